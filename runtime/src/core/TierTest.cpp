//===- TierTest.cpp - a run's fetches of host-tier buffers ----------------===//
//
// The bookkeeping behind moert_tier_fetch_start/_wait/_release (Tier.h):
// handles, stats, the runtime's release of what compiled code did not
// release, every misuse failing the run with a message instead of a crash;
// expert fetches (moert_tier_fetch_experts_*): the slices copied at the
// start and at the wait, their ranges, the expert hits, misses and unused
// predictions, and their misuse;
// and the tier cache (TierCache.h) on a fake allocator: hits, misses, LRU
// eviction, pinned entries, capacity 0, buffers too big for the cache, and
// the retry of a failed allocation after evicting.
//
//===----------------------------------------------------------------------===//

#include "Tier.h"
#include "TierAbi.h"
#include "TierCache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <vector>

namespace {

using moert::tier::HeapCopier;
using FetchRun = moert::tier::Run;
using moert::tier::CacheMemory;
using moert::tier::Lease;
using moert::tier::RunScope;
using moert::tier::TierCache;

// Tests that a fetch copies into a 64-byte aligned heap buffer that the
// wait hands over (compiled code frees it), counts, and ends the run cleanly.
TEST(TierRun, FetchCopiesAndCounts) {
  std::vector<float> host = {1, 2, 3, 4};
  HeapCopier copier;
  FetchRun run(copier);
  int64_t handle = run.start(host.data(), 16);
  EXPECT_EQ(handle, 1);
  int64_t bytes = 0;
  void *buffer = run.wait(handle, bytes);
  ASSERT_NE(buffer, nullptr);
  EXPECT_EQ(bytes, 16);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer) % 64, 0u);
  EXPECT_EQ(std::memcmp(buffer, host.data(), 16), 0);
  std::string error;
  EXPECT_TRUE(run.finish(error)) << error;
  EXPECT_EQ(run.stats().fetches, 1u);
  EXPECT_EQ(run.stats().bytes, 16u);
  EXPECT_EQ(run.stats().misses, 1u);
  EXPECT_EQ(run.stats().hits, 0u);
  std::free(buffer); // what the kernels' deallocation does
}

// Tests the C ABI: 0 and a null buffer outside a run; inside its scope the
// run's handles, and the wait's memref<?xi8> descriptor.
TEST(TierRun, AbiFindsTheRunOfTheThread) {
  float a = 5;
  EXPECT_EQ(moert_tier_fetch_start(&a, sizeof(float)), 0);
  moert_tier_buffer_t descriptor;
  _mlir_ciface_moert_tier_fetch_wait(&descriptor, 1);
  EXPECT_EQ(descriptor.aligned, nullptr);
  EXPECT_EQ(descriptor.size, 0);
  moert_tier_fetch_release(1); // outside a run: nothing to do
  HeapCopier copier;
  FetchRun run(copier);
  {
    RunScope scope(run);
    int64_t handle = moert_tier_fetch_start(&a, sizeof(float));
    EXPECT_EQ(handle, 1);
    _mlir_ciface_moert_tier_fetch_wait(&descriptor, handle);
    moert_tier_fetch_release(handle); // a no-op on the cpu
  }
  std::string error;
  EXPECT_TRUE(run.finish(error)) << error;
  ASSERT_NE(descriptor.aligned, nullptr);
  EXPECT_EQ(descriptor.allocated, descriptor.aligned);
  EXPECT_EQ(descriptor.offset, 0);
  EXPECT_EQ(descriptor.size, int64_t(sizeof(float)));
  EXPECT_EQ(descriptor.stride, 1);
  EXPECT_EQ(*static_cast<float *>(descriptor.aligned), 5);
  std::free(descriptor.allocated);
}

/// Records what the run asks of its copier.
class RecordingCopier final : public moert::tier::Copier {
public:
  bool start(const void *, size_t bytes, uint64_t &token, bool &hit,
             std::string &) override {
    token = 100 + log.size();
    hit = bytes == 1; // one byte: a "hit"
    log.push_back("start " + std::to_string(token));
    return true;
  }
  bool wait(uint64_t token, void *&buffer, std::string &) override {
    buffer = &storage;
    log.push_back("wait " + std::to_string(token));
    return true;
  }
  bool release(uint64_t token, bool waited, std::string &) override {
    log.push_back("release " + std::to_string(token) +
                  (waited ? "" : " unwaited"));
    return true;
  }
  void failed(const std::string &message) override {
    log.push_back("failed: " + message);
  }
  bool allocate(const void *, size_t, uint64_t &token,
                std::string &) override {
    token = 100 + log.size();
    log.push_back("allocate " + std::to_string(token));
    return true;
  }
  bool copyRanges(uint64_t token, const std::vector<Range> &ranges,
                  std::string &) override {
    std::string line = "copy " + std::to_string(token);
    for (const Range &range : ranges)
      line += " " + std::to_string(range.offset) + "+" +
              std::to_string(range.length);
    log.push_back(line);
    return true;
  }
  bool readIndices(const int32_t *values, size_t count,
                   std::vector<int32_t> &out, std::string &) override {
    out.assign(values, values + count);
    log.push_back("read " + std::to_string(count));
    return true;
  }
  std::vector<std::string> log;
  char storage = 0;
};

// Tests that the runtime releases, at the end of the run, each fetch that
// compiled code did not (waited or not), and never one twice; and that hits
// and misses are counted apart, bytes only for the misses.
TEST(TierRun, FinishReleasesWhatTheKernelsDidNot) {
  RecordingCopier copier;
  std::string error;
  {
    FetchRun run(copier);
    int64_t a = run.start(&copier, 8), b = run.start(&copier, 1),
            c = run.start(&copier, 4);
    int64_t bytes = 0;
    run.wait(a, bytes);
    run.release(a);
    run.wait(b, bytes);
    EXPECT_FALSE(run.finish(error)); // c never waited
    EXPECT_EQ(error, "fetch 3 (moert_tier_fetch_start) was started and "
                     "never waited");
    EXPECT_EQ(run.stats().fetches, 3u);
    EXPECT_EQ(run.stats().hits, 1u);
    EXPECT_EQ(run.stats().misses, 2u);
    EXPECT_EQ(run.stats().bytes, 12u);
    (void)c;
  }
  EXPECT_EQ(copier.log,
            (std::vector<std::string>{"start 100", "start 101", "start 102",
                                      "wait 100", "release 100", "wait 101",
                                      "release 101",
                                      "release 102 unwaited"}));
}

// Tests each misuse: a handle never returned, a second wait, a fetch never
// waited (its buffer freed by the runtime), invalid arguments, a release
// twice, before the wait, of an unknown handle; and that nothing is
// fetched after a failure.
TEST(TierRun, MisuseFailsTheRun) {
  float a = 1;
  std::string error;
  int64_t bytes = 0;
  {
    HeapCopier copier;
    FetchRun run(copier);
    EXPECT_EQ(run.wait(3, bytes), nullptr);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_wait: handle 3 was never returned by "
                     "moert_tier_fetch_start in this run");
    EXPECT_EQ(run.start(&a, sizeof(float)), 0);
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    int64_t handle = run.start(&a, sizeof(float));
    void *buffer = run.wait(handle, bytes);
    EXPECT_EQ(run.wait(handle, bytes), nullptr);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_wait: fetch 1 is waited twice");
    std::free(buffer);
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    run.start(&a, sizeof(float));
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "fetch 1 (moert_tier_fetch_start) was started and never "
                     "waited");
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    EXPECT_EQ(run.start(nullptr, 4), 0);
    EXPECT_EQ(run.start(&a, -1), 0);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_start of 4 bytes (fetch 1 of the run): "
                     "invalid arguments");
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    int64_t handle = run.start(&a, sizeof(float));
    void *buffer = run.wait(handle, bytes);
    run.release(handle);
    run.release(handle);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_release: fetch 1 is released twice");
    std::free(buffer);
  }
  {
    RecordingCopier copier;
    FetchRun run(copier);
    int64_t handle = run.start(&a, sizeof(float));
    run.release(handle);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error,
              "moert_tier_fetch_release: fetch 1 is released before its wait");
    // The copier heard of the failure; the runtime still released the fetch.
    EXPECT_EQ(copier.log.back(), "release 100 unwaited");
    EXPECT_EQ(copier.log[1], "failed: " + error);
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    run.release(7);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_release: handle 7 was never returned "
                     "by moert_tier_fetch_start in this run");
  }
}

/// Four experts of 4 floats each: slice e holds 10e .. 10e + 3.
std::vector<float> fourExperts() {
  std::vector<float> host(16);
  for (size_t i = 0; i < host.size(); ++i)
    host[i] = float(10 * (i / 4) + i % 4);
  return host;
}

// Tests an expert fetch through the C ABI on the CPU: the start copies the
// slices of the distinct predicted experts in range (1 and 3; 7 is no expert
// of 4), the wait those of the routed experts the start missed (0; -1 is a
// dropped slot); the stats count one hit (3), one miss (0), one unused
// prediction (1) and the three slices copied. Changing the source between
// start and wait shows which copy happened when.
TEST(TierRun, ExpertFetchCopiesPredictedThenMisses) {
  std::vector<float> host = fourExperts(), original = host;
  int32_t predicted[] = {1, 3, 3, 7}, routed[] = {3, 0, -1};
  EXPECT_EQ(moert_tier_fetch_experts_start(host.data(), 64, 4, predicted, 4),
            0); // outside a run
  HeapCopier copier;
  FetchRun run(copier);
  moert_tier_buffer_t descriptor;
  {
    RunScope scope(run);
    int64_t handle =
        moert_tier_fetch_experts_start(host.data(), 64, 4, predicted, 4);
    EXPECT_EQ(handle, 1);
    host[4] = -1;  // expert 1: copied by the start already
    host[12] = -1; // expert 3: likewise
    host[0] = 99;  // expert 0: copied by the wait
    _mlir_ciface_moert_tier_fetch_experts_wait(&descriptor, handle, routed,
                                               3);
    moert_tier_fetch_release(handle);
  }
  std::string error;
  EXPECT_TRUE(run.finish(error)) << error;
  ASSERT_NE(descriptor.aligned, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(descriptor.aligned) % 64, 0u);
  EXPECT_EQ(descriptor.offset, 0);
  EXPECT_EQ(descriptor.size, 64);
  EXPECT_EQ(descriptor.stride, 1);
  const float *buffer = static_cast<const float *>(descriptor.aligned);
  original[0] = 99;
  EXPECT_EQ(std::memcmp(buffer, original.data(), 32), 0); // experts 0, 1
  EXPECT_EQ(std::memcmp(buffer + 12, original.data() + 12, 16), 0); // 3
  const moert::tier::Stats &stats = run.stats();
  EXPECT_EQ(stats.fetches, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(stats.bytes, 48u);
  EXPECT_EQ(stats.expertHits, 1u);
  EXPECT_EQ(stats.expertMisses, 1u);
  EXPECT_EQ(stats.expertUnused, 1u);
  std::free(descriptor.allocated);
}

// Tests which ranges a run asks its copier for: consecutive experts in one
// range, repeats once; with no prediction (fetch on demand) nothing at the
// start and every routed expert a miss at the wait; an expert both predicted
// and routed is not copied again. The indices are read even when there are
// none (on CUDA that read refuses a captured stream).
TEST(TierRun, ExpertFetchCoalescesConsecutiveExperts) {
  std::vector<float> host = fourExperts();
  RecordingCopier copier;
  FetchRun run(copier);
  int32_t predicted[] = {2, 0, 1, 2}, routed[] = {1, 3, 2, 3};
  int64_t ahead = run.startExperts(host.data(), 64, 4, predicted, 4);
  int64_t onDemand = run.startExperts(host.data(), 64, 4, nullptr, 0);
  int64_t bytes = 0;
  EXPECT_NE(run.waitExperts(ahead, routed, 4, bytes), nullptr);
  EXPECT_EQ(bytes, 64);
  EXPECT_NE(run.waitExperts(onDemand, routed, 4, bytes), nullptr);
  std::string error;
  EXPECT_TRUE(run.finish(error)) << error;
  EXPECT_EQ(copier.log,
            (std::vector<std::string>{
                "read 4", "allocate 101", "copy 101 0+48", "read 0",
                "allocate 104", "read 4", "copy 101 48+16", "wait 101",
                "read 4", "copy 104 16+48", "wait 104", "release 101",
                "release 104"}));
  const moert::tier::Stats &stats = run.stats();
  EXPECT_EQ(stats.fetches, 2u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.bytes, 48u + 16u + 48u);
  EXPECT_EQ(stats.expertHits, 2u);   // 1 and 2 of the first fetch
  EXPECT_EQ(stats.expertMisses, 4u); // 3; then 1, 2 and 3 on demand
  EXPECT_EQ(stats.expertUnused, 1u); // 0
}

// Tests the misuse of expert fetches: experts that do not divide the bytes
// (or none), a prediction count without indices, either fetch waited by the
// other kind's wait, and an expert fetch never waited (its buffer freed by
// the runtime).
TEST(TierRun, ExpertFetchMisuseFailsTheRun) {
  std::vector<float> host = fourExperts();
  int32_t experts[] = {0, 1};
  std::string error;
  int64_t bytes = 0;
  for (int64_t slices : {int64_t(3), int64_t(0), int64_t(-2)}) {
    HeapCopier copier;
    FetchRun run(copier);
    EXPECT_EQ(run.startExperts(host.data(), 64, slices, experts, 2), 0);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_experts_start of 64 bytes in " +
                         std::to_string(slices) +
                         " experts (fetch 1 of the run): invalid arguments "
                         "(experts must divide the bytes)");
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    EXPECT_EQ(run.startExperts(host.data(), 64, 4, nullptr, 2), 0);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_experts_start of 64 bytes in 4 "
                     "experts (fetch 1 of the run): invalid arguments (no "
                     "predicted experts)");
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    int64_t handle = run.startExperts(host.data(), 64, 4, experts, 2);
    EXPECT_EQ(run.wait(handle, bytes), nullptr);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_wait: fetch 1 is an expert fetch "
                     "(moert_tier_fetch_experts_start), waited by "
                     "moert_tier_fetch_experts_wait");
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    int64_t handle = run.start(host.data(), 64);
    EXPECT_EQ(run.waitExperts(handle, experts, 2, bytes), nullptr);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_experts_wait: fetch 1 is a whole "
                     "fetch (moert_tier_fetch_start), waited by "
                     "moert_tier_fetch_wait");
  }
  {
    HeapCopier copier;
    FetchRun run(copier);
    int64_t handle = run.startExperts(host.data(), 64, 4, experts, 2);
    void *buffer = run.waitExperts(handle, experts, 2, bytes);
    EXPECT_EQ(run.waitExperts(handle, experts, 2, bytes), nullptr);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_experts_wait: fetch 1 is waited "
                     "twice");
    std::free(buffer);
  }
  {
    RecordingCopier copier;
    FetchRun run(copier);
    EXPECT_EQ(run.startExperts(host.data(), 64, 4, experts, 2), 1);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "fetch 1 (moert_tier_fetch_experts_start) was started "
                     "and never waited");
    EXPECT_EQ(copier.log.back(), "release 101 unwaited");
  }
}

/// Device memory of the cache tests: distinct fake addresses, every live
/// allocation tracked, at most `limit` bytes live (0: none).
class FakeMemory final : public CacheMemory {
public:
  bool allocate(size_t bytes, void *&buffer, std::string &error) override {
    if (limit && held + bytes > limit) {
      error = "over the limit";
      ++refused;
      return false;
    }
    buffer = reinterpret_cast<void *>(next);
    next += 0x1000;
    live[buffer] = bytes;
    held += bytes;
    ++allocations;
    return true;
  }
  void free(void *buffer) override {
    auto it = live.find(buffer);
    ASSERT_NE(it, live.end()) << "freed twice or never allocated";
    held -= it->second;
    live.erase(it);
    freed.push_back(buffer);
  }
  uint64_t limit = 0, held = 0;
  int allocations = 0, refused = 0;
  uintptr_t next = 0x10000;
  std::map<void *, size_t> live;
  std::vector<void *> freed;
};

/// Distinct host sources.
char weights[8][256];

// Tests that capacity 0 (the default) caches nothing: each fetch allocates
// its own buffer, freed at its release.
TEST(TierCache, CapacityZeroAllocatesEveryFetch) {
  TierCache cache;
  FakeMemory memory;
  EXPECT_EQ(cache.capacity(), 0u);
  std::string error;
  Lease first, second;
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, first, error)) << error;
  EXPECT_FALSE(first.hit);
  EXPECT_FALSE(first.cached);
  cache.release(first, memory);
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, second, error));
  EXPECT_FALSE(second.hit);
  cache.release(second, memory);
  EXPECT_EQ(memory.allocations, 2);
  EXPECT_TRUE(memory.live.empty());
  EXPECT_EQ(cache.residentBytes(), 0u);
}

// Tests a miss then a hit: the second fetch of the same source and size
// gets the same buffer without an allocation; another size is another
// entry.
TEST(TierCache, SecondFetchHits) {
  TierCache cache;
  FakeMemory memory;
  cache.setCapacity(1000, memory);
  std::string error;
  Lease miss, hit, other;
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, miss, error));
  EXPECT_FALSE(miss.hit);
  EXPECT_TRUE(miss.cached);
  cache.release(miss, memory);
  EXPECT_EQ(memory.live.size(), 1u); // stays
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, hit, error));
  EXPECT_TRUE(hit.hit);
  EXPECT_EQ(hit.buffer, miss.buffer);
  ASSERT_TRUE(cache.acquire(weights[0], 50, memory, other, error));
  EXPECT_FALSE(other.hit);
  cache.release(hit, memory);
  cache.release(other, memory);
  EXPECT_EQ(memory.allocations, 2);
  EXPECT_EQ(cache.residentBytes(), 150u);
  EXPECT_EQ(cache.entryCount(), 2u);
  cache.clear(memory);
  EXPECT_TRUE(memory.live.empty());
  EXPECT_EQ(cache.residentBytes(), 0u);
}

// Tests least-recently-used eviction: a miss that does not fit evicts the
// entry used longest ago (a hit refreshes an entry), and only as many as
// needed.
TEST(TierCache, EvictsLeastRecentlyUsed) {
  TierCache cache;
  FakeMemory memory;
  cache.setCapacity(300, memory);
  std::string error;
  Lease a, b, c, again, d;
  for (auto [source, lease] :
       {std::pair{weights[0], &a}, {weights[1], &b}, {weights[2], &c}}) {
    ASSERT_TRUE(cache.acquire(source, 100, memory, *lease, error));
    cache.release(*lease, memory);
  }
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, again, error));
  EXPECT_TRUE(again.hit); // a is now the most recently used
  cache.release(again, memory);
  ASSERT_TRUE(cache.acquire(weights[3], 100, memory, d, error));
  EXPECT_TRUE(d.cached);
  EXPECT_EQ(memory.freed, std::vector<void *>{b.buffer});
  cache.release(d, memory);
  Lease check;
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, check, error));
  EXPECT_TRUE(check.hit);
  cache.release(check, memory);
  ASSERT_TRUE(cache.acquire(weights[1], 100, memory, check, error));
  EXPECT_FALSE(check.hit); // evicted: c goes now
  EXPECT_EQ(memory.freed, (std::vector<void *>{b.buffer, c.buffer}));
  cache.release(check, memory);
  EXPECT_EQ(cache.residentBytes(), 300u);
}

// Tests that pinned entries (held by a fetch of the run) are never evicted:
// a miss that could only fit by evicting them gets a buffer of its own,
// outside the cache and freed at its release; so does one larger than the
// capacity.
TEST(TierCache, PinnedEntriesStayAndOverflowIsUncached) {
  TierCache cache;
  FakeMemory memory;
  cache.setCapacity(200, memory);
  std::string error;
  Lease a, b, c, big;
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, a, error));
  ASSERT_TRUE(cache.acquire(weights[1], 100, memory, b, error));
  ASSERT_TRUE(cache.acquire(weights[2], 100, memory, c, error));
  EXPECT_FALSE(c.cached);
  EXPECT_FALSE(c.hit);
  EXPECT_TRUE(memory.freed.empty());
  cache.release(c, memory);
  EXPECT_EQ(memory.freed, std::vector<void *>{c.buffer});
  ASSERT_TRUE(cache.acquire(weights[3], 201, memory, big, error));
  EXPECT_FALSE(big.cached);
  cache.release(big, memory);
  EXPECT_EQ(cache.entryCount(), 2u);
  // Released, they may go: the next miss evicts the older one.
  cache.release(a, memory);
  cache.release(b, memory);
  ASSERT_TRUE(cache.acquire(weights[2], 100, memory, c, error));
  EXPECT_TRUE(c.cached);
  EXPECT_EQ(memory.freed.back(), a.buffer);
  cache.release(c, memory);
  // A lower capacity evicts down to it; 0 empties the cache.
  cache.setCapacity(100, memory);
  EXPECT_EQ(cache.residentBytes(), 100u);
  cache.setCapacity(0, memory);
  EXPECT_EQ(cache.residentBytes(), 0u);
  EXPECT_TRUE(memory.live.empty());
}

// Tests that an allocation refused (out of memory, or the session's device
// memory limit) is retried after evicting unpinned entries one at a time,
// least recently used first; and fails, with the allocator's error, when
// nothing is left to evict.
TEST(TierCache, FailedAllocationEvictsAndRetries) {
  TierCache cache;
  FakeMemory memory;
  memory.limit = 250;
  cache.setCapacity(1000, memory);
  std::string error;
  Lease a, b, c, d;
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, a, error));
  cache.release(a, memory);
  ASSERT_TRUE(cache.acquire(weights[1], 100, memory, b, error));
  ASSERT_TRUE(cache.acquire(weights[2], 100, memory, c, error)) << error;
  EXPECT_TRUE(c.cached);
  EXPECT_EQ(memory.refused, 1);
  EXPECT_EQ(memory.freed, std::vector<void *>{a.buffer});
  // b and c are pinned: nothing to evict.
  EXPECT_FALSE(cache.acquire(weights[3], 100, memory, d, error));
  EXPECT_EQ(error, "over the limit");
  cache.release(b, memory);
  EXPECT_TRUE(cache.evictOne(memory));
  EXPECT_FALSE(cache.evictOne(memory)); // c is pinned
  cache.release(c, memory);
  cache.clear(memory);
  EXPECT_TRUE(memory.live.empty());
}

// Tests that a new entry whose copy failed is forgotten and freed.
TEST(TierCache, DiscardForgetsAFailedCopy) {
  TierCache cache;
  FakeMemory memory;
  cache.setCapacity(1000, memory);
  std::string error;
  Lease a, again;
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, a, error));
  cache.discard(a, memory);
  EXPECT_TRUE(memory.live.empty());
  EXPECT_EQ(cache.entryCount(), 0u);
  ASSERT_TRUE(cache.acquire(weights[0], 100, memory, again, error));
  EXPECT_FALSE(again.hit);
  cache.release(again, memory);
  cache.clear(memory);
}

} // namespace
