//===- Tier.cpp - a run's fetches of host-tier buffers --------------------===//

#include "Tier.h"
#include "TierAbi.h"

#include <cstdlib>
#include <cstring>

namespace moert::tier {

namespace {
thread_local Run *current = nullptr;
} // namespace

HeapCopier::~HeapCopier() {
  for (void *buffer : buffers)
    std::free(buffer);
}

bool HeapCopier::start(const void *source, size_t bytes, uint64_t &token,
                       bool &hit, std::string &error) {
  hit = false;
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
  if (bytes)
    std::memcpy(buffer, source, bytes);
  token = buffers.size();
  buffers.push_back(buffer);
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
  fetches.push_back({token, bytes, false, false});
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

void *Run::wait(int64_t handle, int64_t &bytes) {
  bytes = 0;
  if (!failure.empty())
    return nullptr;
  Fetch *found = fetchOf(handle, "moert_tier_fetch_wait");
  if (!found)
    return nullptr;
  Fetch &fetch = *found;
  if (fetch.waited) {
    fail("moert_tier_fetch_wait: fetch " + std::to_string(handle) +
         " is waited twice");
    return nullptr;
  }
  if (fetch.released) {
    fail("moert_tier_fetch_wait: fetch " + std::to_string(handle) +
         " was released before its wait");
    return nullptr;
  }
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
                    " (moert_tier_fetch_start) was started and never waited";
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

extern "C" {

MOERT_API int64_t moert_tier_fetch_start(const void *source, int64_t bytes) {
  moert::tier::Run *run = moert::tier::currentRun();
  return run ? run->start(source, bytes) : 0;
}

MOERT_API void _mlir_ciface_moert_tier_fetch_wait(moert_tier_buffer_t *result,
                                                  int64_t handle) {
  if (!result)
    return;
  *result = {};
  result->stride = 1;
  moert::tier::Run *run = moert::tier::currentRun();
  if (!run)
    return;
  int64_t bytes = 0;
  void *buffer = run->wait(handle, bytes);
  result->allocated = buffer;
  result->aligned = buffer;
  result->size = buffer ? bytes : 0;
}

MOERT_API void moert_tier_fetch_release(int64_t handle) {
  if (moert::tier::Run *run = moert::tier::currentRun())
    run->release(handle);
}

} // extern "C"
