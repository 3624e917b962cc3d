//===- Tier.h - a run's copies from host-tier buffers -----------*- C++ -*-===//
//
// What moert_tier_fetch_start/_wait (TierAbi.h) work with: each backend runs
// its programs inside a tier::RunScope whose Run knows how that backend
// copies a host-tier buffer into run memory (a Copier: memcpy on the CPU,
// an asynchronous copy on the session's copy stream on CUDA). The ABI
// functions return nothing, so a run records its first failure and the
// backend reads it after the run (finish), as it does for the mgpu ABI.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_TIER_H
#define MOERT_CORE_TIER_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moert::tier {

/// How a backend moves host-tier data into run memory.
class Copier {
public:
  virtual ~Copier() = default;
  /// Starts copying `bytes` from `source` to `destination`; on success
  /// `token` identifies the copy for wait. False with a one-line `error`.
  virtual bool start(const void *source, void *destination, size_t bytes,
                     uint64_t &token, std::string &error) = 0;
  /// Orders what the run does next behind copy `token`.
  virtual bool wait(uint64_t token, std::string &error) = 0;
};

/// A copier that copies at the start (the CPU backend's: host and "device"
/// memory are one).
Copier &immediateCopier();

/// What one run fetched.
struct Stats {
  uint64_t fetches = 0;
  uint64_t bytes = 0;
};

/// The fetches of one run.
class Run {
public:
  explicit Run(Copier &copier) : copier(copier) {}

  /// moert_tier_fetch_start: a handle > 0, or 0 after a failure.
  int64_t start(const void *source, void *destination, int64_t bytes);
  /// moert_tier_fetch_wait.
  void wait(int64_t handle);
  /// After the run: true, or false with the first failure, or with the first
  /// fetch that was started and never waited.
  bool finish(std::string &error) const;
  const Stats &stats() const { return totals; }

private:
  void fail(const std::string &message) {
    if (failure.empty())
      failure = message;
  }

  Copier &copier;
  /// tokens[h - 1]: the copier's token of handle h; waited[h - 1] whether it
  /// was waited.
  std::vector<uint64_t> tokens;
  std::vector<bool> waited;
  std::string failure;
  Stats totals;
};

/// The Run of the calling thread; null outside a RunScope.
Run *currentRun();

/// Makes `run` the calling thread's Run for the scope's life.
class RunScope {
public:
  explicit RunScope(Run &run);
  ~RunScope();
  RunScope(const RunScope &) = delete;
  RunScope &operator=(const RunScope &) = delete;

private:
  Run *previous;
};

} // namespace moert::tier

#endif // MOERT_CORE_TIER_H
