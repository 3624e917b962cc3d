//===- CollectiveTrace.h - per-collective timing of NCCL runs ----*- C++ -*-===//
//
// With MOERT_COMM_TRACE=PREFIX set, every NCCL collective of a process
// appends one JSON line to PREFIX.rank<world rank>.jsonl: the run of the
// session it belongs to, its kind, group
// mask and size, the bytes sent to and received from each member, and the
// time from enqueueing it on the run's stream to the stream being done, as the
// host sees it (compiled code synchronizes the stream before each collective,
// so this is the transfer plus the launch latency), and when the collective
// was entered, enqueued and done, counted from the start of the run. moe-bench reads it to
// report the all-to-all bandwidth and to replay the same split sizes through
// torch.distributed. Tracing is off (no file, no cost) without the variable.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_NCCL_COLLECTIVETRACE_H
#define MOERT_NCCL_COLLECTIVETRACE_H

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace moert::nccl {

class CollectiveTrace {
public:
  using Clock = std::chrono::steady_clock;

  /// Opens PREFIX.rank<rank>.jsonl for appending when MOERT_COMM_TRACE names
  /// a prefix; otherwise (or when the file cannot be opened: said once on
  /// stderr) the trace is off.
  explicit CollectiveTrace(int worldRank);
  ~CollectiveTrace();
  CollectiveTrace(const CollectiveTrace &) = delete;
  CollectiveTrace &operator=(const CollectiveTrace &) = delete;

  bool enabled() const { return file != nullptr; }
  /// The following lines belong to the next run of the session (numbered
  /// from 0 in the lines' "run" field), which starts now.
  void startRun() {
    ++run;
    runStart = Clock::now();
    entered.reset();
  }
  /// The runtime began the next collective (its first step, copying the
  /// counts or the arguments it checks; the compiled code has synchronized
  /// the stream before calling it, so the device is idle from here): the
  /// line's "entered_ms". The time until "enqueued_ms" is the header
  /// exchange over the host transport.
  void enterCollective() {
    if (!entered)
      entered = Clock::now();
  }

  /// One line: `kind` moved sendBytes[m] to and recvBytes[m] from member m of
  /// the group `axes` (mask), enqueued at `start`, done now. Times are also
  /// given from the start of the run (entered_ms, enqueued_ms, done_ms).
  void record(const char *kind, int axes, const std::vector<size_t> &sendBytes,
              const std::vector<size_t> &recvBytes, Clock::time_point start);

  /// The time enterCollective() noted for the collective being issued now,
  /// forgotten here (a started collective's line is written later).
  std::optional<Clock::time_point> takeEntered() {
    std::optional<Clock::time_point> at = entered;
    entered.reset();
    return at;
  }
  /// The line of a started collective (overlapping the run's stream),
  /// written once it is seen done: `ms` is the device time of its NCCL
  /// calls (between events on the communication stream), "done_ms" when the
  /// host saw it done; the line says "started": true.
  void recordStarted(const char *kind, int axes,
                     const std::vector<size_t> &sendBytes,
                     const std::vector<size_t> &recvBytes, double ms,
                     Clock::time_point enqueued,
                     std::optional<Clock::time_point> entered);

private:
  void write(const char *kind, int axes, const std::vector<size_t> &sendBytes,
             const std::vector<size_t> &recvBytes, double ms,
             Clock::time_point entered, Clock::time_point enqueued,
             bool started);

  std::FILE *file = nullptr;
  long run = -1;
  Clock::time_point runStart = Clock::now();
  std::optional<Clock::time_point> entered;
};

} // namespace moert::nccl

#endif // MOERT_NCCL_COLLECTIVETRACE_H
