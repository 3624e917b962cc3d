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
 * Expert fetches (issue #9: prefetch only the experts predicted). For a
 * streamed weight whose leading dimension is the expert, slice e being bytes
 * [e * bytes / experts, (e + 1) * bytes / experts), compiled code may copy
 * only some slices:
 *
 *   h = moert_tier_fetch_experts_start(source, bytes, experts, predicted, n);
 *   _mlir_ciface_moert_tier_fetch_experts_wait(&descriptor, h, routed, m);
 *   moert_tier_fetch_release(h);                      // CUDA pipeline
 *
 * `predicted` and `routed` are int32 expert indices in run memory (host
 * memory on the CPU backend, device memory written by the run's earlier
 * kernels on CUDA); indices outside [0, experts) are ignored (null experts,
 * dropped slots) and repeats are allowed. `experts` must be > 0 and divide
 * `bytes`. The start allocates the destination as a whole fetch does and
 * copies the slices of the distinct predicted experts (consecutive ones in
 * one copy); `predicted` may be null with a count of 0, and then every
 * routed expert is copied at the wait (fetch on demand). The wait copies the
 * slices of the routed experts that the start did not, orders the run
 * behind every copy of the fetch and returns the buffer as the whole wait
 * does; the slices of experts neither predicted nor routed are left
 * undefined. Expert fetches bypass the tier cache: their buffer holds only
 * some experts, so a later whole fetch of the same source must not find it.
 * Release, failures and the runtime's release at the end of the run are
 * those of whole fetches; a handle is waited by the wait of its own kind,
 * any other wait fails the run. The experts wait is declared with
 * `llvm.emit_c_interface` like the whole one (the runtime defines only the
 * `_mlir_ciface_` name) and takes the indices as a pointer, not a memref
 * (whose C interface would pass a descriptor).
 *
 * On CUDA the start and the wait read the indices on the host: they
 * synchronize the run's stream (behind the kernels that wrote them), which
 * is why an expert fetch fails the run while the stream is being captured
 * into a CUDA graph (a replay would copy the experts of the captured
 * routing). The copies, like a whole fetch's, run on the session's copy
 * stream after the work already issued on the run's stream; the wait makes
 * the run's stream wait for the last of them.
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

/* Starts fetching the host-tier buffer `source` of `bytes` bytes, `experts`
 * slices of equal size, into a buffer of the run: copies the slices of the
 * experts that the `count` indices at `predicted` (run memory) name. Returns
 * a handle as moert_tier_fetch_start does, for the experts wait only. */
MOERT_API int64_t moert_tier_fetch_experts_start(const void *source,
                                                 int64_t bytes,
                                                 int64_t experts,
                                                 const int32_t *predicted,
                                                 int64_t count);

/* Copies the slices of the experts that the `count` indices at `routed` (run
 * memory) name and the start did not copy, orders everything the run does
 * after this call behind every copy of `handle` and stores its buffer in
 * `*result`. */
MOERT_API void _mlir_ciface_moert_tier_fetch_experts_wait(
    moert_tier_buffer_t *result, int64_t handle, const int32_t *routed,
    int64_t count);

/* The run no longer uses the buffer of `handle` (CUDA pipeline). */
MOERT_API void moert_tier_fetch_release(int64_t handle);

#ifdef __cplusplus
}
#endif

#endif /* MOERT_CORE_TIERABI_H */
