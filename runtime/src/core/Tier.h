//===- Tier.h - a run's fetches of host-tier buffers ------------*- C++ -*-===//
//
// What moert_tier_fetch_start/_wait/_release (TierAbi.h) work with: each
// backend runs its programs inside a tier::RunScope whose Run knows how that
// backend brings a host-tier buffer into run memory (a Copier: a heap copy on
// the CPU, an asynchronous copy on the session's copy stream into a device
// buffer, or a tier-cache hit, on CUDA). The runtime owns the destination:
// the copier allocates it at the start, hands it out at the wait, and takes
// it back at the release. The ABI functions return no status, so a run
// records its first failure and the backend reads it after the run (finish),
// as it does for the mgpu ABI.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_TIER_H
#define MOERT_CORE_TIER_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moert::tier {

/// How a backend brings host-tier data into run memory.
class Copier {
public:
  virtual ~Copier() = default;
  /// Finds or allocates the destination of `bytes` bytes from `source` and
  /// starts copying into it (nothing to copy on a cache hit: `hit`); on
  /// success `token` identifies the fetch for wait and release. False with a
  /// one-line `error` (nothing is left allocated then).
  virtual bool start(const void *source, size_t bytes, uint64_t &token,
                     bool &hit, std::string &error) = 0;
  /// Orders what the run does next behind fetch `token`; stores its buffer in
  /// `buffer`.
  virtual bool wait(uint64_t token, void *&buffer, std::string &error) = 0;
  /// The run no longer uses the buffer of `token`; `waited` says whether its
  /// wait came first (compiled code releases only waited fetches; the runtime
  /// releases every other one at the end of the run). Called once per fetch.
  virtual bool release(uint64_t token, bool waited, std::string &error) = 0;
  /// The run failed with `message` (a backend may stop its work).
  virtual void failed(const std::string &message) { (void)message; }
};

/// The CPU backend's copier (host and "device" memory are one): the start
/// copies into a fresh aligned_alloc buffer (64-byte aligned, the size
/// rounded up to 64), the wait hands the buffer to compiled code, which frees
/// it with free() (ownership-based deallocation); a release of a waited fetch
/// does nothing, of one never waited frees the buffer.
class HeapCopier final : public Copier {
public:
  ~HeapCopier() override;
  bool start(const void *source, size_t bytes, uint64_t &token, bool &hit,
             std::string &error) override;
  bool wait(uint64_t token, void *&buffer, std::string &error) override;
  bool release(uint64_t token, bool waited, std::string &error) override;

private:
  /// buffers[token]: the buffer, null once compiled code owns it or it is
  /// freed.
  std::vector<void *> buffers;
};

/// What one run fetched.
struct Stats {
  /// moert_tier_fetch_start calls that returned a handle.
  uint64_t fetches = 0;
  /// Bytes actually copied (cache hits copy nothing).
  uint64_t bytes = 0;
  /// Fetches served from the tier cache without a copy, and fetches that
  /// copied (hits + misses == fetches).
  uint64_t hits = 0;
  uint64_t misses = 0;
};

/// The fetches of one run.
class Run {
public:
  explicit Run(Copier &copier) : copier(copier) {}
  /// Releases what finish did not.
  ~Run();
  Run(const Run &) = delete;
  Run &operator=(const Run &) = delete;

  /// moert_tier_fetch_start: a handle > 0, or 0 after a failure.
  int64_t start(const void *source, int64_t bytes);
  /// moert_tier_fetch_wait: the fetch's buffer and its size in bytes (null
  /// and 0 after a failure).
  void *wait(int64_t handle, int64_t &bytes);
  /// moert_tier_fetch_release.
  void release(int64_t handle);
  /// After the run's last work is issued: releases every fetch not released
  /// yet (the runtime's release), then returns true, or false with the first
  /// failure, or with the first fetch that was started and never waited.
  bool finish(std::string &error);
  const Stats &stats() const { return totals; }

private:
  void fail(const std::string &message);
  void releaseAll();

  struct Fetch {
    uint64_t token = 0;
    int64_t bytes = 0;
    bool waited = false;
    bool released = false;
  };
  /// Fetch `handle`, or null after failing the run with `caller`'s message
  /// for a handle this run never returned.
  Fetch *fetchOf(int64_t handle, const char *caller);

  Copier &copier;
  /// fetches[h - 1]: fetch h.
  std::vector<Fetch> fetches;
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
