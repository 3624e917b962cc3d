//===- Started.cpp - started collectives and the run's progress thread ----===//
//
// moert_comm_all_to_all_v_start / _wait (docs/streaming.md §2). A start
// copies what it sends into staging owned by the runtime and queues the
// collective; one progress thread per run executes the queue in issue order,
// with the same code as the blocking call, into staging; the wait copies the
// staged results to the caller. So caller memory is only touched inside the
// two calls, and every guarantee of the blocking collectives (header
// exchange, sequence numbers, deadline, first failure, zeroed outputs) holds
// as it is. On a CUDA session (device collectives) a start runs the
// collective at once on the run's stream and its wait only checks its handle.
//
//===----------------------------------------------------------------------===//

#include "Started.h"

#include <cstring>
#include <new>

namespace moert::comm {

RunContext::~RunContext() { finish(); }

void RunContext::drain() {
  if (started)
    started->drain();
}

void RunContext::finish() {
  if (!started)
    return;
  for (const std::unique_ptr<Started> &entry : started->stop())
    fail("the all_to_all_v started with handle " +
         std::to_string(entry->handle) + " (group axes " +
         formatAxes(entry->axes) + ") on rank " + std::to_string(comm.rank()) +
         " was started and never waited");
  started.reset();
}

void RunContext::execute(StartedCollective &entry) {
  allToAllVImpl(entry.axes, entry.send.data(),
                entry.sendCounts.empty() ? nullptr : entry.sendCounts.data(),
                entry.sendRows, entry.recv.empty() ? nullptr : entry.recv.data(),
                entry.recvCounts.empty() ? nullptr : entry.recvCounts.data(),
                entry.recvRows, entry.rowBytes, entry.invalid);
}

int64_t RunContext::allToAllVStart(int32_t axes, const void *send,
                                   const int64_t *sendCounts, int64_t sendRows,
                                   void *recv, int64_t *recvCounts,
                                   int64_t recvRows, int64_t rowBytes) {
  if (!started)
    started = std::make_unique<StartedQueue>(*this);
  auto entry = std::make_unique<Started>();
  entry->handle = ++startedHandles;
  entry->axes = axes;
  entry->sendRows = sendRows;
  entry->recvRows = recvRows;
  entry->rowBytes = rowBytes;
  entry->recvTarget = recv;
  entry->recvCountsTarget = recvCounts;
  int64_t handle = entry->handle;

  if (device) {
    // Device pointers: no host staging. The collective runs now, in order
    // after every earlier start (docs/streaming.md §2).
    drain();
    allToAllVImpl(axes, send, sendCounts, sendRows, recv, recvCounts, recvRows,
                  rowBytes, "");
    entry->direct = true;
    entry->executed = true;
    started->add(std::move(entry));
    return handle;
  }

  // Stage what the blocking call would read: G counts and, when they are
  // valid, the rows they send (invalid ones are the executing call's to
  // report, on every member).
  std::string error;
  const Group *group = comm.group(axes, error);
  try {
    if (group && sendCounts) {
      entry->sendCounts.assign(sendCounts, sendCounts + group->size());
      int64_t total = 0;
      for (int64_t c : entry->sendCounts)
        if (c < 0 || __builtin_add_overflow(total, c, &total))
          total = -1;
      int64_t bytes = 0;
      if (total >= 0 && total <= sendRows && rowBytes > 0 &&
          !__builtin_mul_overflow(total, rowBytes, &bytes) && bytes > 0)
        entry->send.assign(static_cast<const char *>(send),
                           static_cast<const char *>(send) + bytes);
    }
    int64_t capacity = 0;
    if (recvRows >= 0 && rowBytes >= 0 &&
        !__builtin_mul_overflow(recvRows, rowBytes, &capacity))
      entry->recv.resize(size_t(capacity));
    if (group)
      entry->recvCounts.resize(size_t(group->size()));
  } catch (const std::bad_alloc &) {
    entry->send.clear();
    entry->recv.clear();
    entry->invalid = "no memory to stage the started collective (receive "
                     "capacity " +
                     std::to_string(recvRows) + " rows of " +
                     std::to_string(rowBytes) + " bytes)";
  }
  started->add(std::move(entry));
  return handle;
}

void RunContext::allToAllVWait(int64_t handle, void *recv,
                               int64_t *recvCounts) {
  std::unique_ptr<Started> entry = started ? started->take(handle) : nullptr;
  std::string where = "waiting for the all_to_all_v started with handle " +
                      std::to_string(handle) + " on rank " +
                      std::to_string(comm.rank());
  if (!entry) {
    fail(where + ": no collective of this run was started with that handle "
                 "or it was waited already");
    return;
  }
  if (entry->recvTarget != recv || entry->recvCountsTarget != recvCounts) {
    fail(where + ": the wait names other receive buffers than its start");
    return;
  }
  if (entry->direct)
    return;
  if (recv && !entry->recv.empty())
    std::memcpy(recv, entry->recv.data(), entry->recv.size());
  else if (recv && entry->recvRows > 0 && entry->rowBytes > 0 &&
           !entry->invalid.empty())
    // Staging failed: the collective failed; its outputs read zero.
    std::memset(recv, 0, size_t(entry->recvRows) * size_t(entry->rowBytes));
  if (recvCounts && !entry->recvCounts.empty())
    std::memcpy(recvCounts, entry->recvCounts.data(),
                entry->recvCounts.size() * sizeof(int64_t));
}

} // namespace moert::comm
