//===- TierCache.h - host-tier weights kept in device memory ----*- C++ -*-===//
//
// A session's cache of fetched host-tier buffers across runs (issue #9,
// composition of experts; docs/memory-tiers.md §5): a weight fetched by one
// run stays in device memory, up to a byte capacity, and the next fetch of
// the same host buffer (same address, same bytes) gets it without a copy.
// Entries a run holds (between the fetch's start and its release) are
// pinned; the others are evicted least recently used first when a new
// buffer needs the room, or when an allocation of the session fails against
// its device memory limit. The cache only does the bookkeeping: memory comes
// and goes through a CacheMemory (the CUDA backend's stream-ordered device
// allocations; a fake in the unit tests), and ordering the reads after the
// copies is the backend's business.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_TIERCACHE_H
#define MOERT_CORE_TIERCACHE_H

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace moert::tier {

/// Where the cache's buffers come from.
class CacheMemory {
public:
  virtual ~CacheMemory() = default;
  /// A buffer of `bytes` (> 0); false with a one-line `error`.
  virtual bool allocate(size_t bytes, void *&buffer, std::string &error) = 0;
  virtual void free(void *buffer) = 0;
};

/// One fetch's hold on a buffer.
struct Lease {
  const void *source = nullptr;
  size_t bytes = 0;
  void *buffer = nullptr;
  /// Found in the cache: nothing to copy.
  bool hit = false;
  /// An entry of the cache (pinned until released); else the buffer is the
  /// fetch's own, freed at its release.
  bool cached = false;
};

class TierCache {
public:
  /// The capacity in bytes; 0 (the default) disables the cache: every
  /// acquire allocates a buffer of its own.
  uint64_t capacity() const;
  /// Sets the capacity and evicts unpinned entries (least recently used
  /// first) until the resident bytes fit it; 0 frees every unpinned entry.
  void setCapacity(uint64_t bytes, CacheMemory &memory);
  /// Bytes of the entries held now, and how many there are.
  uint64_t residentBytes() const;
  size_t entryCount() const;

  /// The buffer of a fetch of `bytes` (> 0) from `source`: a hit pins the
  /// entry; a miss evicts unpinned entries, least recently used first, until
  /// the new buffer fits the capacity, allocates and inserts it pinned
  /// (the caller copies into it). Where it cannot fit (pinned entries hold
  /// the room, or the cache is disabled) the buffer is allocated uncached. An
  /// allocation that fails is retried after evicting each unpinned entry in
  /// turn. False with `error` when no memory was found.
  bool acquire(const void *source, size_t bytes, CacheMemory &memory,
               Lease &lease, std::string &error);
  /// The fetch is done with its buffer: unpins a cached entry (evictable
  /// from now on), frees an uncached buffer.
  void release(const Lease &lease, CacheMemory &memory);
  /// The copy into a new entry failed: forgets it and frees its buffer
  /// (an uncached buffer is freed as by release).
  void discard(const Lease &lease, CacheMemory &memory);
  /// Frees the least recently used unpinned entry; false when there is none.
  bool evictOne(CacheMemory &memory);
  /// Frees every unpinned entry.
  void clear(CacheMemory &memory);

private:
  struct Entry {
    const void *source;
    size_t bytes;
    void *buffer;
    unsigned pins;
  };
  using Key = std::pair<const void *, size_t>;
  /// Frees the least recently used unpinned entry (the lock held).
  bool evictLocked(CacheMemory &memory);
  uint64_t pinnedBytesLocked() const;

  // Recursive: an allocation inside acquire may evict (the CUDA backend
  // retries allocations refused by the device memory limit through
  // evictOne).
  mutable std::recursive_mutex mutex;
  uint64_t cap = 0, resident = 0;
  /// Least recently used first.
  std::list<Entry> entries;
  std::map<Key, std::list<Entry>::iterator> index;
};

} // namespace moert::tier

#endif // MOERT_CORE_TIERCACHE_H
