//===- TierCache.cpp - host-tier weights kept in device memory ------------===//

#include "TierCache.h"

namespace moert::tier {

uint64_t TierCache::capacity() const {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  return cap;
}

uint64_t TierCache::residentBytes() const {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  return resident;
}

size_t TierCache::entryCount() const {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  return entries.size();
}

void TierCache::setCapacity(uint64_t bytes, CacheMemory &memory) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  cap = bytes;
  while (resident > cap && evictLocked(memory)) {
  }
}

uint64_t TierCache::pinnedBytesLocked() const {
  uint64_t pinned = 0;
  for (const Entry &entry : entries)
    if (entry.pins)
      pinned += entry.bytes;
  return pinned;
}

bool TierCache::evictLocked(CacheMemory &memory) {
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (it->pins)
      continue;
    void *buffer = it->buffer;
    resident -= it->bytes;
    index.erase({it->source, it->bytes});
    entries.erase(it);
    memory.free(buffer);
    return true;
  }
  return false;
}

bool TierCache::evictOne(CacheMemory &memory) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  return evictLocked(memory);
}

void TierCache::clear(CacheMemory &memory) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  while (evictLocked(memory)) {
  }
}

bool TierCache::acquire(const void *source, size_t bytes, CacheMemory &memory,
                        Lease &lease, std::string &error) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  lease = {};
  lease.source = source;
  lease.bytes = bytes;
  Key key{source, bytes};
  if (cap) {
    auto found = index.find(key);
    if (found != index.end()) {
      // Most recently used: to the back.
      entries.splice(entries.end(), entries, found->second);
      Entry &entry = *found->second;
      ++entry.pins;
      lease.buffer = entry.buffer;
      lease.hit = true;
      lease.cached = true;
      return true;
    }
  }
  bool cacheable = cap && bytes <= cap && pinnedBytesLocked() + bytes <= cap;
  if (cacheable)
    while (resident + bytes > cap && evictLocked(memory)) {
    }
  void *buffer = nullptr;
  while (!memory.allocate(bytes, buffer, error)) {
    buffer = nullptr;
    // The memory (or the session's limit) may be held by the cache.
    if (!evictLocked(memory))
      return false;
  }
  error.clear();
  lease.buffer = buffer;
  // Evictions for the retry may have made room that was pinned before;
  // the capacity check stands as it was.
  if (cacheable && resident + bytes <= cap) {
    entries.push_back({source, bytes, buffer, 1});
    index[key] = std::prev(entries.end());
    resident += bytes;
    lease.cached = true;
  }
  return true;
}

void TierCache::release(const Lease &lease, CacheMemory &memory) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  if (!lease.cached) {
    if (lease.buffer)
      memory.free(lease.buffer);
    return;
  }
  auto found = index.find({lease.source, lease.bytes});
  if (found == index.end() || found->second->buffer != lease.buffer) {
    // Not the cache's (cannot happen: pinned entries stay): the fetch's own.
    memory.free(lease.buffer);
    return;
  }
  Entry &entry = *found->second;
  if (entry.pins)
    --entry.pins;
  // A capacity lowered while the entry was pinned.
  while (resident > cap && evictLocked(memory)) {
  }
}

void TierCache::discard(const Lease &lease, CacheMemory &memory) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  if (lease.cached) {
    auto found = index.find({lease.source, lease.bytes});
    if (found != index.end() && found->second->buffer == lease.buffer) {
      Entry &entry = *found->second;
      if (entry.pins > 1) { // another fetch of this run holds it too
        --entry.pins;
        return;
      }
      resident -= entry.bytes;
      entries.erase(found->second);
      index.erase(found);
    }
  }
  if (lease.buffer)
    memory.free(lease.buffer);
}

} // namespace moert::tier
