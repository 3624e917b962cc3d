//===- Tier.cpp - a run's fetches of host-tier buffers --------------------===//

#include "Tier.h"
#include "TierAbi.h"

#include <cstdlib>
#include <cstring>
#include <utility>

namespace moert::tier {

namespace {
thread_local Run *current = nullptr;
} // namespace

HeapCopier::~HeapCopier() {
  for (void *buffer : buffers)
    std::free(buffer);
}

bool HeapCopier::add(const void *source, size_t bytes, uint64_t &token,
                     std::string &error) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded < bytes) {
    error = "too many bytes";
    return false;
  }
  void *buffer = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!buffer) {
    error = "out of host memory";
    return false;
  }
  token = buffers.size();
  buffers.push_back(buffer);
  sources.push_back(source);
  return true;
}

bool HeapCopier::start(const void *source, size_t bytes, uint64_t &token,
                       bool &hit, std::string &error) {
  hit = false;
  if (!add(source, bytes, token, error))
    return false;
  if (bytes)
    std::memcpy(buffers[token], source, bytes);
  return true;
}

bool HeapCopier::allocate(const void *source, size_t bytes, uint64_t &token,
                          std::string &error) {
  return add(source, bytes, token, error);
}

bool HeapCopier::copyRanges(uint64_t token, const std::vector<Range> &ranges,
                            std::string &error) {
  if (token >= buffers.size() || !buffers[token]) {
    error = "unknown copy";
    return false;
  }
  for (const Range &range : ranges)
    std::memcpy(static_cast<char *>(buffers[token]) + range.offset,
                static_cast<const char *>(sources[token]) + range.offset,
                range.length);
  return true;
}

bool HeapCopier::readIndices(const int32_t *values, size_t count,
                             std::vector<int32_t> &out, std::string &error) {
  (void)error;
  out.assign(values, values + count);
  return true;
}

bool HeapCopier::wait(uint64_t token, void *&buffer, std::string &error) {
  if (token >= buffers.size() || !buffers[token]) {
    error = "unknown copy";
    return false;
  }
  // Compiled code owns it from now on (its deallocation frees it).
  buffer = buffers[token];
  buffers[token] = nullptr;
  return true;
}

bool HeapCopier::release(uint64_t token, bool waited, std::string &error) {
  if (token >= buffers.size()) {
    error = "unknown copy";
    return false;
  }
  if (!waited) {
    std::free(buffers[token]);
    buffers[token] = nullptr;
  }
  return true;
}

Run::~Run() { releaseAll(); }

void Run::fail(const std::string &message) {
  if (!failure.empty())
    return;
  failure = message;
  copier.failed(message);
}

int64_t Run::start(const void *source, int64_t bytes) {
  if (!failure.empty())
    return 0;
  std::string at = "moert_tier_fetch_start of " + std::to_string(bytes) +
                   " bytes (fetch " + std::to_string(fetches.size() + 1) +
                   " of the run)";
  if (bytes < 0 || (bytes > 0 && !source)) {
    fail(at + ": invalid arguments");
    return 0;
  }
  uint64_t token = 0;
  bool hit = false;
  std::string error;
  if (!copier.start(source, size_t(bytes), token, hit, error)) {
    fail(at + ": " + error);
    return 0;
  }
  Fetch fetch;
  fetch.token = token;
  fetch.bytes = bytes;
  fetches.push_back(std::move(fetch));
  ++totals.fetches;
  if (hit) {
    ++totals.hits;
  } else {
    ++totals.misses;
    totals.bytes += uint64_t(bytes);
  }
  return int64_t(fetches.size());
}

Run::Fetch *Run::fetchOf(int64_t handle, const char *caller) {
  if (handle <= 0 || uint64_t(handle) > fetches.size()) {
    fail(std::string(caller) + ": handle " + std::to_string(handle) +
         " was never returned by moert_tier_fetch_start in this run");
    return nullptr;
  }
  return &fetches[handle - 1];
}

Run::Fetch *Run::waitable(int64_t handle, const char *caller,
                          bool expertWait) {
  Fetch *found = fetchOf(handle, caller);
  if (!found)
    return nullptr;
  Fetch &fetch = *found;
  std::string name = std::string(caller) + ": fetch " + std::to_string(handle);
  if ((fetch.experts != 0) != expertWait) {
    fail(name + (expertWait ? " is a whole fetch (moert_tier_fetch_start), "
                              "waited by moert_tier_fetch_wait"
                            : " is an expert fetch "
                              "(moert_tier_fetch_experts_start), waited by "
                              "moert_tier_fetch_experts_wait"));
    return nullptr;
  }
  if (fetch.waited) {
    fail(name + " is waited twice");
    return nullptr;
  }
  if (fetch.released) {
    fail(name + " was released before its wait");
    return nullptr;
  }
  return found;
}

void *Run::wait(int64_t handle, int64_t &bytes) {
  bytes = 0;
  if (!failure.empty())
    return nullptr;
  Fetch *found = waitable(handle, "moert_tier_fetch_wait", false);
  if (!found)
    return nullptr;
  Fetch &fetch = *found;
  fetch.waited = true;
  void *buffer = nullptr;
  std::string error;
  if (!copier.wait(fetch.token, buffer, error)) {
    fail("moert_tier_fetch_wait of fetch " + std::to_string(handle) + ": " +
         error);
    return nullptr;
  }
  bytes = fetch.bytes;
  return buffer;
}

bool Run::readExperts(const int32_t *values, int64_t count, int64_t experts,
                      std::vector<bool> &named, const std::string &at) {
  // Read even when there are none: on CUDA the read is what refuses a
  // stream being captured, whose graph would replay stale routing.
  std::vector<int32_t> indices;
  std::string error;
  if (!copier.readIndices(values, size_t(count), indices, error)) {
    fail(at + ": " + error);
    return false;
  }
  named.assign(size_t(experts), false);
  for (int32_t expert : indices)
    if (expert >= 0 && expert < experts)
      named[size_t(expert)] = true;
  return true;
}

bool Run::copyExperts(const Fetch &fetch, const std::vector<bool> &take,
                      const std::string &at) {
  size_t slice = size_t(fetch.bytes / fetch.experts);
  std::vector<Copier::Range> ranges;
  size_t copied = 0;
  for (size_t e = 0; e < take.size();) {
    if (!take[e]) {
      ++e;
      continue;
    }
    // One copy per run of consecutive experts: fewer, larger DMAs.
    size_t first = e;
    while (e < take.size() && take[e])
      ++e;
    ranges.push_back({first * slice, (e - first) * slice});
    copied += (e - first) * slice;
  }
  if (copied == 0)
    return true;
  std::string error;
  if (!copier.copyRanges(fetch.token, ranges, error)) {
    fail(at + ": " + error);
    return false;
  }
  totals.bytes += copied;
  return true;
}

int64_t Run::startExperts(const void *source, int64_t bytes, int64_t experts,
                          const int32_t *predicted, int64_t count) {
  if (!failure.empty())
    return 0;
  std::string at = "moert_tier_fetch_experts_start of " +
                   std::to_string(bytes) + " bytes in " +
                   std::to_string(experts) + " experts (fetch " +
                   std::to_string(fetches.size() + 1) + " of the run)";
  const char *invalid = nullptr;
  if (bytes < 0)
    invalid = "negative bytes";
  else if (bytes > 0 && !source)
    invalid = "no source";
  else if (experts <= 0 || bytes % experts != 0)
    invalid = "experts must divide the bytes";
  else if (count < 0 || (count > 0 && !predicted))
    invalid = "no predicted experts";
  if (invalid) {
    fail(at + ": invalid arguments (" + invalid + ")");
    return 0;
  }
  Fetch fetch;
  fetch.bytes = bytes;
  fetch.experts = experts;
  if (!readExperts(predicted, count, experts, fetch.copied, at))
    return 0;
  std::string error;
  if (!copier.allocate(source, size_t(bytes), fetch.token, error)) {
    fail(at + ": " + error);
    return 0;
  }
  // Kept before its copies are issued: a fetch whose copy fails is released
  // with the run's others, after what was issued of it.
  fetches.push_back(std::move(fetch));
  ++totals.fetches;
  ++totals.misses;
  if (!copyExperts(fetches.back(), fetches.back().copied, at))
    return 0;
  return int64_t(fetches.size());
}

void *Run::waitExperts(int64_t handle, const int32_t *routed, int64_t count,
                       int64_t &bytes) {
  bytes = 0;
  if (!failure.empty())
    return nullptr;
  const char *caller = "moert_tier_fetch_experts_wait";
  Fetch *found = waitable(handle, caller, true);
  if (!found)
    return nullptr;
  Fetch &fetch = *found;
  std::string at = std::string(caller) + " of fetch " + std::to_string(handle);
  if (count < 0 || (count > 0 && !routed)) {
    fail(at + ": invalid arguments (no routed experts)");
    return nullptr;
  }
  std::vector<bool> routedExperts;
  if (!readExperts(routed, count, fetch.experts, routedExperts, at))
    return nullptr;
  std::vector<bool> missed(routedExperts.size(), false);
  for (size_t e = 0; e < routedExperts.size(); ++e) {
    if (routedExperts[e] && fetch.copied[e]) {
      ++totals.expertHits;
    } else if (routedExperts[e]) {
      missed[e] = true;
      ++totals.expertMisses;
    } else if (fetch.copied[e]) {
      ++totals.expertUnused;
    }
  }
  if (!copyExperts(fetch, missed, at))
    return nullptr;
  fetch.waited = true;
  void *buffer = nullptr;
  std::string error;
  if (!copier.wait(fetch.token, buffer, error)) {
    fail(at + ": " + error);
    return nullptr;
  }
  bytes = fetch.bytes;
  return buffer;
}

void Run::release(int64_t handle) {
  // Releases go on after a failure: they give memory back.
  Fetch *found = fetchOf(handle, "moert_tier_fetch_release");
  if (!found)
    return;
  Fetch &fetch = *found;
  if (fetch.released) {
    fail("moert_tier_fetch_release: fetch " + std::to_string(handle) +
         " is released twice");
    return;
  }
  if (!fetch.waited) {
    fail("moert_tier_fetch_release: fetch " + std::to_string(handle) +
         " is released before its wait");
    return;
  }
  fetch.released = true;
  std::string error;
  if (!copier.release(fetch.token, /*waited=*/true, error))
    fail("moert_tier_fetch_release of fetch " + std::to_string(handle) +
         ": " + error);
}

void Run::releaseAll() {
  for (size_t h = 0; h < fetches.size(); ++h) {
    Fetch &fetch = fetches[h];
    if (fetch.released)
      continue;
    fetch.released = true;
    std::string error;
    if (!copier.release(fetch.token, fetch.waited, error))
      fail("releasing fetch " + std::to_string(h + 1) +
           " at the end of the run: " + error);
  }
}

bool Run::finish(std::string &error) {
  std::string neverWaited;
  for (size_t h = 0; h < fetches.size() && neverWaited.empty(); ++h)
    if (!fetches[h].waited)
      neverWaited = "fetch " + std::to_string(h + 1) +
                    (fetches[h].experts ? " (moert_tier_fetch_experts_start)"
                                        : " (moert_tier_fetch_start)") +
                    " was started and never waited";
  releaseAll();
  if (!failure.empty()) {
    error = failure;
    return false;
  }
  if (!neverWaited.empty()) {
    error = neverWaited;
    return false;
  }
  return true;
}

Run *currentRun() { return current; }

RunScope::RunScope(Run &run) : previous(current) { current = &run; }
RunScope::~RunScope() { current = previous; }

} // namespace moert::tier

namespace {
/// Fills `result` (MLIR's memref<?xi8> descriptor) with what `waitOn`
/// returns from the calling thread's Run: a null buffer of size 0 outside a
/// run or after a failure.
template <typename WaitOn>
void describeWaited(moert_tier_buffer_t *result, WaitOn waitOn) {
  if (!result)
    return;
  *result = {};
  result->stride = 1;
  moert::tier::Run *run = moert::tier::currentRun();
  if (!run)
    return;
  int64_t bytes = 0;
  void *buffer = waitOn(*run, bytes);
  result->allocated = buffer;
  result->aligned = buffer;
  result->size = buffer ? bytes : 0;
}
} // namespace

extern "C" {

MOERT_API int64_t moert_tier_fetch_start(const void *source, int64_t bytes) {
  moert::tier::Run *run = moert::tier::currentRun();
  return run ? run->start(source, bytes) : 0;
}

MOERT_API void _mlir_ciface_moert_tier_fetch_wait(moert_tier_buffer_t *result,
                                                  int64_t handle) {
  describeWaited(result, [&](moert::tier::Run &run, int64_t &bytes) {
    return run.wait(handle, bytes);
  });
}

MOERT_API int64_t moert_tier_fetch_experts_start(const void *source,
                                                 int64_t bytes,
                                                 int64_t experts,
                                                 const int32_t *predicted,
                                                 int64_t count) {
  moert::tier::Run *run = moert::tier::currentRun();
  return run ? run->startExperts(source, bytes, experts, predicted, count)
             : 0;
}

MOERT_API void _mlir_ciface_moert_tier_fetch_experts_wait(
    moert_tier_buffer_t *result, int64_t handle, const int32_t *routed,
    int64_t count) {
  describeWaited(result, [&](moert::tier::Run &run, int64_t &bytes) {
    return run.waitExperts(handle, routed, count, bytes);
  });
}

MOERT_API void moert_tier_fetch_release(int64_t handle) {
  if (moert::tier::Run *run = moert::tier::currentRun())
    run->release(handle);
}

} // extern "C"
