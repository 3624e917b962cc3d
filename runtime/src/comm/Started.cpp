//===- Started.cpp - started collectives and the run's progress thread ----===//
//
// moert_comm_all_to_all_v_start / _wait (docs/streaming.md §2). A start
// copies what it sends into staging owned by the runtime and queues the
// collective; one progress thread per run executes the queue in issue order,
// with the same code as the blocking call, into staging; the wait copies the
// staged results to the caller. So caller memory is only touched inside the
// two calls, and every guarantee of the blocking collectives (header
// exchange, sequence numbers, deadline, first failure, zeroed outputs) holds
// as it is. On a CUDA session (device collectives) the start runs the same
// code on the calling thread; where the device overlaps started collectives
// (NCCL: runtime/src/nccl) the payload is only issued there, on a stream of
// its own, and the wait finishes it on the run's stream without blocking the
// host; otherwise the collective runs at once on the run's stream and the
// wait only checks its handle.
//
//===----------------------------------------------------------------------===//

#include "Started.h"

#include <cstring>
#include <new>

namespace moert::comm {

namespace {

/// Stands in for the run's device collectives while a started all_to_all_v
/// runs the blocking call's code (allToAllVImpl) at its start: the payload
/// is issued with startAllToAllV instead of allToAllV, and nothing is
/// written to the caller's outputs (the received counts are kept for the
/// wait; zeroing is the wait's: the tail past the received rows when the
/// collective was issued, all of both outputs otherwise).
class StartCapture final : public DeviceCollectives {
public:
  StartCapture(DeviceCollectives &inner, RunContext &run, int64_t handle,
               uint64_t sequence, int rank, int64_t *recvCounts)
      : inner(inner), run(run), handle(handle), sequence(sequence),
        rank(rank), recvCountsTarget(recvCounts) {}

  bool issued = false;
  std::vector<int64_t> counts;
  std::string where;

  bool copyToHost(void *host, const void *device, size_t bytes,
                  std::string &error) override {
    return inner.copyToHost(host, device, bytes, error);
  }
  bool copyToDevice(void *device, const void *host, size_t bytes,
                    std::string &error) override {
    if (device != recvCountsTarget)
      return inner.copyToDevice(device, host, bytes, error);
    const int64_t *values = static_cast<const int64_t *>(host);
    counts.assign(values, values + bytes / sizeof(int64_t));
    return true;
  }
  void zero(void *, size_t) override {}
  bool allToAllV(const Group &group, const void *send,
                 const std::vector<size_t> &sendBytes, void *,
                 const std::vector<size_t> &recvBytes,
                 Clock::time_point deadline, std::string &error) override {
    // As RunContext::begin words it.
    where = "collective all_to_all_v #" + std::to_string(sequence) +
            " of the run (" + group.describe() + ", member " +
            std::to_string(group.index) + " of " +
            std::to_string(group.size()) + ") on rank " + std::to_string(rank);
    issued = inner.startAllToAllV(handle, group, send, sendBytes, recvBytes,
                                  deadline, run, where, error);
    return issued;
  }
  bool allGather(const Group &group, const void *send, void *recv,
                 int64_t outer, int64_t blockBytes, Clock::time_point deadline,
                 std::string &error) override {
    return inner.allGather(group, send, recv, outer, blockBytes, deadline,
                           error);
  }
  bool reduceScatter(const Group &group, const void *send, void *recv,
                     int64_t count, int32_t dtype, int32_t op,
                     Clock::time_point deadline, std::string &error) override {
    return inner.reduceScatter(group, send, recv, count, dtype, op, deadline,
                               error);
  }
  bool allReduce(const Group &group, const void *send, void *recv,
                 int64_t count, int32_t dtype, int32_t op,
                 Clock::time_point deadline, std::string &error) override {
    return inner.allReduce(group, send, recv, count, dtype, op, deadline,
                           error);
  }
  bool send(const Group &group, int peer, const void *data, size_t bytes,
            Clock::time_point deadline, std::string &error) override {
    return inner.send(group, peer, data, bytes, deadline, error);
  }
  bool recv(const Group &group, int peer, void *data, size_t bytes,
            Clock::time_point deadline, std::string &error) override {
    return inner.recv(group, peer, data, bytes, deadline, error);
  }

private:
  DeviceCollectives &inner;
  RunContext &run;
  int64_t handle;
  uint64_t sequence;
  int rank;
  int64_t *recvCountsTarget;
};

} // namespace

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

  if (device && device->overlapsStarted()) {
    // Device pointers, overlapped: the blocking call's code runs here (the
    // counts, the header, the capacity verdict), with the payload issued on
    // the device's own stream (StartCapture); the wait finishes it.
    drain();
    std::string error;
    const Group *group = comm.group(axes, error);
    int64_t capacity = 0;
    if (recvRows >= 0 && rowBytes >= 0 &&
        !__builtin_mul_overflow(recvRows, rowBytes, &capacity))
      entry->recvBytes = size_t(capacity);
    if (group)
      entry->countBytes = size_t(group->size()) * sizeof(int64_t);
    // begin() numbers the collective first thing: sequence + 1.
    StartCapture capture(*device, *this, handle, sequence + 1, comm.rank(),
                         recvCounts);
    struct Swap {
      DeviceCollectives *&slot;
      DeviceCollectives *saved;
      ~Swap() { slot = saved; }
    } swap{device, device};
    device = &capture;
    allToAllVImpl(axes, send, sendCounts, sendRows, recv, recvCounts, recvRows,
                  rowBytes, "");
    entry->overlapped = true;
    entry->issued = capture.issued;
    entry->recvCounts = std::move(capture.counts);
    entry->where = std::move(capture.where);
    entry->executed = true;
    started->add(std::move(entry));
    return handle;
  }

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
  if (entry->overlapped) {
    std::string error;
    if (entry->issued) {
      if (device && device->waitAllToAllV(handle, recv, entry->recvBytes,
                                          recvCounts, entry->recvCounts,
                                          error))
        return;
      fail(entry->where + ": " +
           (device ? error : "no device collectives at the wait"));
    }
    // The collective failed (at its start, or since): its outputs read zero
    // (device memory: only with the run's device collectives).
    if (device) {
      zero(recv, int64_t(entry->recvBytes));
      zero(recvCounts, int64_t(entry->countBytes));
    }
    return;
  }
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
