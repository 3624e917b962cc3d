/*===- CommAbi.h - the collective C ABI that compiled code calls ----------===*
 *
 * `convert-moeflow-to-runtime` lowers each `moeflow` collective to one call
 * of these functions (docs/multi-rank.md §4); libmoert exports them with C
 * linkage and default visibility, so a bundle's KERNELS object resolves them
 * when the runtime loads it. They take no session argument: the runtime sets
 * the run's collective context on the calling thread around each run
 * (runtime/src/comm/Comm.h).
 *
 * Pointers are host pointers on the CPU backend and device pointers on the
 * CUDA backend (NCCL, the run's stream). Counts are int64_t. Every function
 * returns nothing: the first failure of a run (timeout, mismatch, peer gone,
 * bad count) is recorded, later collectives of that run do no communication
 * and zero their outputs, and the run ends with MOERT_ERROR_COLLECTIVE, whose
 * message names the collective, its sequence number in the run, the group and
 * the rank. Nothing hangs past the deadline (MOERT_COLLECTIVE_TIMEOUT_S) and
 * nothing aborts the process.
 *
 * A group is a bit mask of grid axes, sum(1 << axis); a rank's index in it is
 * the mixed-radix number of its coordinates on those axes, the lowest axis
 * most significant. `dtype` is a moert_dtype_t; `op` 0 sum, 1 max, 2 min,
 * 3 prod (the moeflow reduction enum).
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOERT_COMM_COMMABI_H
#define MOERT_COMM_COMMABI_H

#include "moert/moert.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reduction operators (moeflow's enum). */
enum {
  MOERT_COMM_SUM = 0,
  MOERT_COMM_MAX = 1,
  MOERT_COMM_MIN = 2,
  MOERT_COMM_PROD = 3,
};

/* This rank's coordinate on grid axis `axis` (shard.process_multi_index). */
MOERT_API int64_t moert_comm_grid_index(int32_t axis);

/* Rows of `row_bytes` bytes. send_counts[G], recv_counts[G] (written). Sends
 * the first sum(send_counts) rows of `send` (<= send_rows), member j's rows
 * after member j-1's; receives into `recv` (capacity recv_rows rows, member
 * order, zero past the received rows). */
MOERT_API void moert_comm_all_to_all_v(int32_t group_axes, const void *send,
                                       const int64_t *send_counts,
                                       int64_t send_rows, void *recv,
                                       int64_t *recv_counts, int64_t recv_rows,
                                       int64_t row_bytes);

/* The started form (docs/streaming.md §2): the same collective, issued now
 * (its place in the run's collective order) and executed by the run's
 * progress thread while the caller computes. `send` and `send_counts` are
 * read before the start returns; `recv` and `recv_counts` are written only
 * by the wait, which blocks until the collective is complete and must name
 * the buffers its start named. Returns a handle (> 0; 0 outside a run) that
 * exactly one wait takes. A handle never waited by the end of the run, one
 * waited twice or one never returned fails the run. */
MOERT_API int64_t moert_comm_all_to_all_v_start(
    int32_t group_axes, const void *send, const int64_t *send_counts,
    int64_t send_rows, void *recv, int64_t *recv_counts, int64_t recv_rows,
    int64_t row_bytes);
MOERT_API void moert_comm_all_to_all_v_wait(int64_t handle, void *recv,
                                            int64_t *recv_counts);

/* Each member's tensor is `outer` blocks of `block_bytes` bytes; the result
 * is `outer` blocks of G * block_bytes (member order). */
MOERT_API void moert_comm_all_gather(int32_t group_axes, const void *send,
                                     void *recv, int64_t outer,
                                     int64_t block_bytes);

/* `send` holds G * count elements (member j's block j); `recv` count. */
MOERT_API void moert_comm_reduce_scatter(int32_t group_axes, const void *send,
                                         void *recv, int64_t count,
                                         int32_t dtype, int32_t op);
/* `count` elements. */
MOERT_API void moert_comm_all_reduce(int32_t group_axes, const void *send,
                                     void *recv, int64_t count, int32_t dtype,
                                     int32_t op);

/* To/from the member `peer` (its index in the group). */
MOERT_API void moert_comm_send(int32_t group_axes, int64_t peer,
                               const void *data, int64_t bytes);
MOERT_API void moert_comm_recv(int32_t group_axes, int64_t peer, void *data,
                               int64_t bytes);

/* X(name) once per function, for export checks. */
#define MOERT_COMM_ABI(X)                                                      \
  X(moert_comm_grid_index) X(moert_comm_all_to_all_v) X(moert_comm_all_gather) \
  X(moert_comm_reduce_scatter) X(moert_comm_all_reduce) X(moert_comm_send)     \
  X(moert_comm_recv) X(moert_comm_all_to_all_v_start)                          \
  X(moert_comm_all_to_all_v_wait)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOERT_COMM_COMMABI_H */
