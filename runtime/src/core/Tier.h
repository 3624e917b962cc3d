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
// An expert fetch (moert_tier_fetch_experts_*) copies only some experts'
// slices of a weight whose leading dimension is the expert: those the
// previous layer predicts at the start, those the layer's router chose and
// the start missed at the wait. The Run reads the indices, picks and
// coalesces the slices and counts hits and misses; a copier only allocates,
// copies byte ranges and reads indices out of run memory.
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

  // Expert fetches: the destination is allocated without a copy, ranges are
  // copied into it later, and wait and release take its token as for start.

  /// Allocates the destination of `bytes` bytes for ranges of `source`,
  /// copying nothing. Never from or into a tier cache: the buffer holds only
  /// some experts, so a later whole fetch of the same key must not find it.
  virtual bool allocate(const void *source, size_t bytes, uint64_t &token,
                        std::string &error) = 0;
  /// A byte range of a fetch's source and destination.
  struct Range {
    size_t offset = 0;
    size_t length = 0;
  };
  /// Starts copying each range of the source of fetch `token` (allocate)
  /// into the same bytes of its destination, after the work the run issued
  /// so far; its wait orders the run behind every copy of the fetch.
  virtual bool copyRanges(uint64_t token, const std::vector<Range> &ranges,
                          std::string &error) = 0;
  /// Reads `count` int32 values at `values`, in run memory (written by the
  /// run's earlier work), into `out` on the host.
  virtual bool readIndices(const int32_t *values, size_t count,
                           std::vector<int32_t> &out, std::string &error) = 0;
};

/// The CPU backend's copier (host and "device" memory are one): the start
/// copies into a fresh aligned_alloc buffer (64-byte aligned, the size
/// rounded up to 64), the wait hands the buffer to compiled code, which frees
/// it with free() (ownership-based deallocation); a release of a waited fetch
/// does nothing, of one never waited frees the buffer. An expert fetch's
/// buffer is allocated the same way, its ranges copied at once.
class HeapCopier final : public Copier {
public:
  ~HeapCopier() override;
  bool start(const void *source, size_t bytes, uint64_t &token, bool &hit,
             std::string &error) override;
  bool wait(uint64_t token, void *&buffer, std::string &error) override;
  bool release(uint64_t token, bool waited, std::string &error) override;
  /// The aligned_alloc buffer of a start, uncopied.
  bool allocate(const void *source, size_t bytes, uint64_t &token,
                std::string &error) override;
  /// memcpy, before it returns.
  bool copyRanges(uint64_t token, const std::vector<Range> &ranges,
                  std::string &error) override;
  /// memcpy: run memory is host memory.
  bool readIndices(const int32_t *values, size_t count,
                   std::vector<int32_t> &out, std::string &error) override;

private:
  /// The buffer of `bytes` bytes for a fetch from `source`; its token.
  bool add(const void *source, size_t bytes, uint64_t &token,
           std::string &error);

  /// buffers[token]: the buffer, null once compiled code owns it or it is
  /// freed; sources[token]: what ranges of it are copied from.
  std::vector<void *> buffers;
  std::vector<const void *> sources;
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
  /// Expert fetches: distinct routed experts of a fetch that its start had
  /// copied (hits) or that its wait copied (misses), and distinct predicted
  /// experts that no routed index named (copies not needed). An expert
  /// fetch is also one of `fetches` and of `misses` (it never hits the
  /// cache), and `bytes` counts only the slices it copied.
  uint64_t expertHits = 0;
  uint64_t expertMisses = 0;
  uint64_t expertUnused = 0;

  /// Adds `other`'s counts (the runs of a composition's requests).
  Stats &operator+=(const Stats &other) {
    fetches += other.fetches;
    bytes += other.bytes;
    hits += other.hits;
    misses += other.misses;
    expertHits += other.expertHits;
    expertMisses += other.expertMisses;
    expertUnused += other.expertUnused;
    return *this;
  }
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
  /// moert_tier_fetch_experts_start: copies the slices of the distinct
  /// experts in [0, experts) that `count` indices at `predicted` (run
  /// memory) name; a handle > 0, or 0 after a failure.
  int64_t startExperts(const void *source, int64_t bytes, int64_t experts,
                       const int32_t *predicted, int64_t count);
  /// moert_tier_fetch_experts_wait: copies the slices of the experts that
  /// `count` indices at `routed` (run memory) name and the start did not
  /// copy; then as wait.
  void *waitExperts(int64_t handle, const int32_t *routed, int64_t count,
                    int64_t &bytes);
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
    /// An expert fetch: its number of experts (0: a whole fetch) and which
    /// of them its start copied.
    int64_t experts = 0;
    std::vector<bool> copied;
  };
  /// Fetch `handle`, or null after failing the run with `caller`'s message
  /// for a handle this run never returned.
  Fetch *fetchOf(int64_t handle, const char *caller);
  /// Fetch `handle` if `caller`, the wait of `expertWait`'s kind, may wait
  /// for it now; null after failing the run.
  Fetch *waitable(int64_t handle, const char *caller, bool expertWait);
  /// Which of `experts` experts the `count` indices at `values` (run
  /// memory) name, those outside [0, experts) ignored; false after failing
  /// the run with `at`'s message.
  bool readExperts(const int32_t *values, int64_t count, int64_t experts,
                   std::vector<bool> &named, const std::string &at);
  /// Copies the slices of `fetch` that `take` marks, consecutive experts in
  /// one range, and counts their bytes; false after failing the run.
  bool copyExperts(const Fetch &fetch, const std::vector<bool> &take,
                   const std::string &at);

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
