/*===- TierAbi.h - the memory-tier C ABI that compiled code calls ---------===*
 *
 * `convert-moeflow-to-runtime` lowers each `moeflow.prefetch ... from <host>
 * to <hbm>` (placed by `moe-plan-tiers`, docs/memory-tiers.md) to one start
 * at the prefetch and one wait before the first use of its result. libmoert
 * exports both with C linkage and default visibility, so a bundle's KERNELS
 * object resolves them when the runtime loads it; like the collective ABI
 * they take no session argument (the run's context is set on the calling
 * thread around each run).
 *
 * `source` is a host-tier buffer: an input the bundle's SCHEDULE marks
 * `"tier": "host"`, which the runtime keeps in host memory (page-locked on
 * the CUDA backend, so that the copy is a DMA that overlaps the kernels).
 * `destination` is memory of the run: device memory on the CUDA backend, host
 * memory on the CPU backend.
 *
 * CUDA: the start orders the copy after the work already issued on the run's
 * stream (the destination's stream-ordered allocation among it) and issues it
 * on the session's copy stream; the wait makes the run's stream wait for the
 * copy's event, without blocking the host. CPU: the start copies, the wait
 * checks the handle. A failure (a copy the driver refuses, a bad handle, a
 * handle never waited by the end of the run) is recorded and the run ends
 * with an error; nothing aborts the process.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOERT_CORE_TIERABI_H
#define MOERT_CORE_TIERABI_H

#include "moert/moert.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts copying `bytes` bytes from the host-tier buffer `source` to
 * `destination`. Returns a handle (> 0; 0 outside a run) that exactly one
 * moert_tier_fetch_wait takes. */
MOERT_API int64_t moert_tier_fetch_start(const void *source, void *destination,
                                         int64_t bytes);

/* Orders everything the run does after this call behind the copy of
 * `handle`. */
MOERT_API void moert_tier_fetch_wait(int64_t handle);

#ifdef __cplusplus
}
#endif

#endif /* MOERT_CORE_TIERABI_H */
