//===- HostTier.h - host-tier buffers of a CUDA session ---------*- C++ -*-===//
//
// Weights that a memory-tier plan keeps in host memory (docs/memory-tiers.md)
// live in page-locked memory, so that the copies up are DMA that run beside
// the kernels; page-locking gigabytes is slow, so a session keeps its blocks
// from run to run (PinnedPool). The copies themselves (StreamCopier) run on
// the session's copy stream, each ordered after the work already issued on
// the run's stream and waited for by the run's stream, without blocking the
// host. With the session's tier cache on, fetched buffers stay in device
// memory across runs (TierCache) and host-tier inputs are read from
// page-locked mirrors kept across runs (HostMirrors).
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_HOSTTIER_H
#define MOERT_CUDA_HOSTTIER_H

#include "CallContext.h"
#include "Tier.h"
#include "TierCache.h"

#include <map>
#include <vector>

namespace moert::cuda {

/// The tier cache's device buffers (TierCache.h): allocations of `call`
/// (counted in its account) and stream-ordered frees on `stream`.
class DeviceCacheMemory final : public tier::CacheMemory {
public:
  DeviceCacheMemory(const CallContext &call, CUstream stream)
      : call(call), stream(stream) {}
  bool allocate(size_t bytes, void *&buffer, std::string &error) override;
  void free(void *buffer) override;

private:
  const CallContext &call;
  CUstream stream;
};

/// Page-locked host blocks of one session, reused across its runs.
class PinnedPool {
public:
  explicit PinnedPool(const CudaDriver *driver) : driver(driver) {}
  ~PinnedPool();
  PinnedPool(const PinnedPool &) = delete;
  PinnedPool &operator=(const PinnedPool &) = delete;

  /// A block of `bytes` (> 0): a free one of that size, or a new one
  /// (cuMemAllocHost; the heap where the driver lacks it). Inside the
  /// session's DeviceScope.
  CUresult take(size_t bytes, void *&block);
  /// Gives `block` back for later runs.
  void give(void *block);
  /// Frees `block` (taken) for good. Inside the session's DeviceScope.
  void drop(void *block);

private:
  const CudaDriver *driver;
  std::mutex mutex;
  /// Every block: its size and whether the driver allocated it.
  std::map<void *, std::pair<size_t, bool>> blocks;
  std::multimap<size_t, void *> free;
};

/// Page-locked copies of host-tier inputs while the tier cache is on
/// (docs/memory-tiers.md §5): the session then treats a host-tier input as an
/// immutable weight identified by its address and size, uses the caller's
/// memory in place (no copy into a pool block per run, so that the fetches'
/// sources, the cache's keys, stay the same from run to run), and copies up
/// from a mirror: a page-locked block filled from the caller's memory once,
/// when a fetch first misses the cache, and kept until the cache is cleared
/// or turned off.
class HostMirrors {
public:
  explicit HostMirrors(PinnedPool &pool) : pool(pool) {}
  /// Drops every mirror (inside the session's DeviceScope).
  ~HostMirrors() { clear(); }
  HostMirrors(const HostMirrors &) = delete;
  HostMirrors &operator=(const HostMirrors &) = delete;

  /// A new run: forgets the inputs of the last one.
  void beginRun();
  /// The host-tier input at `data` (host memory, `bytes` > 0) is used in
  /// place by this run.
  void noteInput(const void *data, size_t bytes);
  /// Whether `bytes` from `source` lie inside an input of this run.
  bool covers(const void *source, size_t bytes) const;
  /// Where a copy of `bytes` from `source` (covered) reads: the same bytes of
  /// the input's mirror, made and filled when first needed. False with
  /// `error` when no page-locked block could be had.
  bool mirror(const void *source, size_t bytes, const void *&from,
              std::string &error);
  /// Frees every mirror (no copy may be reading one: between runs).
  void clear();
  /// The mirrors held, and their bytes.
  size_t count() const;
  uint64_t bytes() const;

private:
  /// The input of this run that holds `bytes` from `source`; null if none.
  const std::pair<const char *, size_t> *inputOf(const void *source,
                                                 size_t bytes) const;

  PinnedPool &pool;
  mutable std::mutex mutex;
  std::vector<std::pair<const char *, size_t>> inputs;
  /// (caller address, bytes) -> page-locked copy.
  std::map<std::pair<const void *, size_t>, void *> blocks;
};

/// moert_tier_fetch on a CUDA session: the destination is a stream-ordered
/// device allocation on the run's stream (counted in the session's device
/// memory), or an entry of the session's tier cache; copies run on the
/// session's copy stream, each ordered after the work already issued on the
/// run's stream (the destination's allocation among it) and waited for by
/// the run's stream, without blocking the host. A release frees the buffer
/// on the run's stream (after every read issued before it) or unpins its
/// cache entry. An expert fetch's buffer is never cached, and its copies of
/// byte ranges are ordered the same way.
class StreamCopier final : public tier::Copier {
public:
  /// `call`: the run's context (its stream); `copyStream`: the session's;
  /// `cache`: the session's tier cache and `mirrors` its host-tier mirrors,
  /// both null while the cache is off (or the stream is being captured):
  /// then every fetch copies into a buffer of its own.
  StreamCopier(CallContext &call, CUstream copyStream,
               tier::TierCache *cache = nullptr,
               HostMirrors *mirrors = nullptr)
      : call(call), copyStream(copyStream), cache(cache), mirrors(mirrors) {}
  /// Destroys the run's events (after the run's stream is synchronized).
  ~StreamCopier() override;

  bool start(const void *source, size_t bytes, uint64_t &token, bool &hit,
             std::string &error) override;
  bool wait(uint64_t token, void *&buffer, std::string &error) override;
  bool release(uint64_t token, bool waited, std::string &error) override;
  /// Records the failure in the run's context: later launches do nothing.
  void failed(const std::string &message) override { call.fail(message); }
  /// A stream-ordered allocation on the run's stream, never from the tier
  /// cache; its copies read the mirror of `source` where the cache has one.
  bool allocate(const void *source, size_t bytes, uint64_t &token,
                std::string &error) override;
  /// As a start's copy: the copy stream waits for the run's stream, copies
  /// each range and records the fetch's event (the same event at every
  /// call, so that the wait orders the run behind the last copy).
  bool copyRanges(uint64_t token, const std::vector<Range> &ranges,
                  std::string &error) override;
  /// Copies the indices down on the run's stream, behind their producers,
  /// and synchronizes it; refused while the stream is being captured.
  bool readIndices(const int32_t *values, size_t count,
                   std::vector<int32_t> &out, std::string &error) override;

private:
  bool check(CUresult result, const char *what, std::string &error) const;
  /// Gives a fetch's buffer back (cache entry or its own).
  void giveBack(const tier::Lease &lease, bool failedCopy);

  struct Fetch {
    tier::Lease lease;
    /// The event of the copy into the buffer in this run; null when there
    /// is nothing to wait for (a hit on a buffer copied by an earlier run,
    /// which synchronized both streams; 0 bytes; an expert fetch before its
    /// first copy).
    CUevent copied = nullptr;
    /// An expert fetch: where its copies read (the source or its mirror)
    /// and the event of the run's stream its copies wait for.
    const void *from = nullptr;
    CUevent issued = nullptr;
  };
  /// A new event of the run (destroyed with the copier).
  bool createEvent(CUevent &event, std::string &error);

  CallContext &call;
  CUstream copyStream;
  tier::TierCache *cache;
  HostMirrors *mirrors;
  std::vector<Fetch> fetches;
  std::vector<CUevent> events;
  /// Cache entries copied in this run: a hit on one waits for its copy.
  std::map<void *, CUevent> copiedThisRun;
};

/// Copies `bytes` host bytes with several threads (binding gigabytes of
/// host-tier weights into page-locked memory on every run).
void copyHostParallel(void *destination, const void *source, size_t bytes);

} // namespace moert::cuda

#endif // MOERT_CUDA_HOSTTIER_H
