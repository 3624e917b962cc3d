/*===- TierAbi.h - the memory-tier C ABI that compiled code calls ---------===*
 *
 * `convert-moeflow-to-runtime` lowers each `moeflow.prefetch ... from <host>
 * to <hbm>` (placed by `moe-plan-tiers`, docs/memory-tiers.md) to one start
 * at the prefetch, one wait before the first use of its result and, on the
 * CUDA pipeline (`release-prefetched`), one release after the last use of the
 * buffer. libmoert exports them with C linkage and default visibility, so a
 * bundle's KERNELS object resolves them when the runtime loads it; like the
 * collective ABI they take no session argument (the run's context is set on
 * the calling thread around each run).
 *
 * The runtime owns the destination: the start allocates it (or finds it in
 * the session's tier cache, CUDA only: a hit copies nothing) and the wait
 * returns it as a 1-D i8 memref. Compiled code declares the wait as
 *
 *   func.func private @moert_tier_fetch_wait(i64) -> memref<?xi8>
 *       attributes {llvm.emit_c_interface}
 *
 * so it calls `_mlir_ciface_moert_tier_fetch_wait` with a pointer to the
 * result descriptor first; the kernels' object itself defines the
 * `moert_tier_fetch_wait` wrapper, which the runtime therefore must not.
 *
 * `source` is a host-tier buffer: an input the bundle's SCHEDULE marks
 * `"tier": "host"`, which the runtime keeps in host memory (page-locked on
 * the CUDA backend, so that the copy is a DMA that overlaps the kernels).
 *
 * CUDA: the destination is a stream-ordered device allocation on the run's
 * stream, counted in the session's device memory (and its limit); the copy
 * is ordered after the work already issued on the run's stream and issued on
 * the session's copy stream; the wait makes the run's stream wait for the
 * copy's event, without blocking the host. The release gives the buffer back
 * (freed stream-ordered on the run's stream, or left in the tier cache,
 * evictable). The runtime releases, after the run's last work, every fetch
 * compiled code did not release.
 *
 * CPU: the start allocates host memory with aligned_alloc (64 bytes, the size
 * rounded up) and copies; the wait hands the buffer to compiled code, whose
 * ownership-based deallocation frees it with free(). A release of a waited
 * fetch does nothing on the CPU (the CPU pipeline never emits one); a fetch
 * never waited is freed by the runtime at the end of the run.
 *
 * A failure (a copy the driver refuses, a bad handle, a handle waited twice,
 * released twice or before its wait, a handle never waited by the end of the
 * run) is recorded and the run ends with an error; the wait of a failed fetch
 * returns a null buffer of size 0.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOERT_CORE_TIERABI_H
#define MOERT_CORE_TIERABI_H

#include "moert/moert.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The descriptor of a `memref<?xi8>` (MLIR's C interface): what the wait
 * returns. `allocated` and `aligned` are the buffer, offset 0, size the
 * fetch's bytes, stride 1. */
typedef struct moert_tier_buffer_t {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t size;
  int64_t stride;
} moert_tier_buffer_t;

/* Starts fetching `bytes` bytes of the host-tier buffer `source` into a
 * buffer of the run. Returns a handle (> 0; 0 after a failure or outside a
 * run) that exactly one wait and at most one release take. */
MOERT_API int64_t moert_tier_fetch_start(const void *source, int64_t bytes);

/* Orders everything the run does after this call behind the copy of
 * `handle` and stores its buffer in `*result`. */
MOERT_API void _mlir_ciface_moert_tier_fetch_wait(moert_tier_buffer_t *result,
                                                  int64_t handle);

/* The run no longer uses the buffer of `handle` (CUDA pipeline). */
MOERT_API void moert_tier_fetch_release(int64_t handle);

#ifdef __cplusplus
}
#endif

#endif /* MOERT_CORE_TIERABI_H */
