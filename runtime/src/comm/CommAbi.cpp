//===- CommAbi.cpp - the moert_comm_* C ABI -------------------------------===//
//
// Each function forwards to the RunContext of the calling thread. Outside a
// run (no context: code calling the ABI on a thread the runtime does not run)
// there is nowhere to report to: the call says so once on stderr and zeroes
// its outputs where their size is known without a group.
//
//===----------------------------------------------------------------------===//

#include "CommAbi.h"

#include "Comm.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>

using moert::comm::currentRun;
using moert::comm::RunContext;

namespace {

RunContext *context(const char *name) {
  RunContext *run = currentRun();
  if (!run) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      std::fprintf(stderr,
                   "moert: %s called outside a run of the runtime; "
                   "collectives do nothing there\n",
                   name);
  }
  return run;
}

void zeroBytes(void *data, int64_t bytes) {
  if (data && bytes > 0)
    std::memset(data, 0, static_cast<size_t>(bytes));
}

} // namespace

extern "C" {

int64_t moert_comm_grid_index(int32_t axis) {
  RunContext *run = context("moert_comm_grid_index");
  return run ? run->gridIndex(axis) : 0;
}

void moert_comm_all_to_all_v(int32_t group_axes, const void *send,
                             const int64_t *send_counts, int64_t send_rows,
                             void *recv, int64_t *recv_counts,
                             int64_t recv_rows, int64_t row_bytes) {
  if (RunContext *run = context("moert_comm_all_to_all_v")) {
    run->allToAllV(group_axes, send, send_counts, send_rows, recv, recv_counts,
                   recv_rows, row_bytes);
    return;
  }
  int64_t bytes = 0;
  if (recv_rows >= 0 && row_bytes >= 0 &&
      !__builtin_mul_overflow(recv_rows, row_bytes, &bytes))
    zeroBytes(recv, bytes);
}

int64_t moert_comm_all_to_all_v_start(int32_t group_axes, const void *send,
                                      const int64_t *send_counts,
                                      int64_t send_rows, void *recv,
                                      int64_t *recv_counts, int64_t recv_rows,
                                      int64_t row_bytes) {
  if (RunContext *run = context("moert_comm_all_to_all_v_start"))
    return run->allToAllVStart(group_axes, send, send_counts, send_rows, recv,
                               recv_counts, recv_rows, row_bytes);
  int64_t bytes = 0;
  if (recv_rows >= 0 && row_bytes >= 0 &&
      !__builtin_mul_overflow(recv_rows, row_bytes, &bytes))
    zeroBytes(recv, bytes);
  return 0;
}

void moert_comm_all_to_all_v_wait(int64_t handle, void *recv,
                                  int64_t *recv_counts) {
  // Outside a run the start zeroed `recv`; `recv_counts`' size is unknown.
  if (RunContext *run = context("moert_comm_all_to_all_v_wait"))
    run->allToAllVWait(handle, recv, recv_counts);
}

void moert_comm_all_gather(int32_t group_axes, const void *send, void *recv,
                           int64_t outer, int64_t block_bytes) {
  if (RunContext *run = context("moert_comm_all_gather"))
    run->allGather(group_axes, send, recv, outer, block_bytes);
}

void moert_comm_reduce_scatter(int32_t group_axes, const void *send,
                               void *recv, int64_t count, int32_t dtype,
                               int32_t op) {
  if (RunContext *run = context("moert_comm_reduce_scatter")) {
    run->reduceScatter(group_axes, send, recv, count, dtype, op);
    return;
  }
  int64_t bytes = 0;
  if (count >= 0 && !__builtin_mul_overflow(
                        count, int64_t(moert::comm::elementSize(dtype)), &bytes))
    zeroBytes(recv, bytes);
}

void moert_comm_all_reduce(int32_t group_axes, const void *send, void *recv,
                           int64_t count, int32_t dtype, int32_t op) {
  if (RunContext *run = context("moert_comm_all_reduce")) {
    run->allReduce(group_axes, send, recv, count, dtype, op);
    return;
  }
  int64_t bytes = 0;
  if (count >= 0 && !__builtin_mul_overflow(
                        count, int64_t(moert::comm::elementSize(dtype)), &bytes))
    zeroBytes(recv, bytes);
}

void moert_comm_send(int32_t group_axes, int64_t peer, const void *data,
                     int64_t bytes) {
  if (RunContext *run = context("moert_comm_send"))
    run->send(group_axes, peer, data, bytes);
}

void moert_comm_recv(int32_t group_axes, int64_t peer, void *data,
                     int64_t bytes) {
  if (RunContext *run = context("moert_comm_recv")) {
    run->recv(group_axes, peer, data, bytes);
    return;
  }
  zeroBytes(data, bytes);
}

} // extern "C"

namespace moert::comm {

void exposeCommAbi() {
  // A libmoert.so opened RTLD_LOCAL (e.g. by Python's ctypes) is promoted to
  // the global scope, so that kernels loaded later resolve moert_comm_* and
  // the other runtime calls of compiled code in the same library
  // (moert_tier_*, runtime/src/core/TierAbi.h).
  Dl_info self{};
  if (::dladdr(reinterpret_cast<void *>(&moert_comm_all_reduce), &self) &&
      self.dli_fname && self.dli_fname[0])
    if (void *handle =
            ::dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL))
      ::dlclose(handle); // the promotion stays
}

} // namespace moert::comm
