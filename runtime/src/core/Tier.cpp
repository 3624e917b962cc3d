//===- Tier.cpp - a run's copies from host-tier buffers -------------------===//

#include "Tier.h"
#include "TierAbi.h"

#include <cstring>

namespace moert::tier {

namespace {

thread_local Run *current = nullptr;

class ImmediateCopier final : public Copier {
public:
  bool start(const void *source, void *destination, size_t bytes,
             uint64_t &token, std::string &) override {
    if (bytes)
      std::memcpy(destination, source, bytes);
    token = 0;
    return true;
  }
  bool wait(uint64_t, std::string &) override { return true; }
};

} // namespace

Copier &immediateCopier() {
  static ImmediateCopier copier;
  return copier;
}

int64_t Run::start(const void *source, void *destination, int64_t bytes) {
  std::string at = "moert_tier_fetch_start of " + std::to_string(bytes) +
                   " bytes (fetch " + std::to_string(tokens.size() + 1) +
                   " of the run)";
  if (!failure.empty())
    return 0;
  if (bytes < 0 || (bytes > 0 && (!source || !destination))) {
    fail(at + ": invalid arguments");
    return 0;
  }
  uint64_t token = 0;
  std::string error;
  if (!copier.start(source, destination, size_t(bytes), token, error)) {
    fail(at + ": " + error);
    return 0;
  }
  tokens.push_back(token);
  waited.push_back(false);
  ++totals.fetches;
  totals.bytes += uint64_t(bytes);
  return int64_t(tokens.size());
}

void Run::wait(int64_t handle) {
  if (!failure.empty())
    return;
  if (handle <= 0 || uint64_t(handle) > tokens.size()) {
    fail("moert_tier_fetch_wait: handle " + std::to_string(handle) +
         " was never returned by moert_tier_fetch_start in this run");
    return;
  }
  if (waited[handle - 1]) {
    fail("moert_tier_fetch_wait: fetch " + std::to_string(handle) +
         " is waited twice");
    return;
  }
  waited[handle - 1] = true;
  std::string error;
  if (!copier.wait(tokens[handle - 1], error))
    fail("moert_tier_fetch_wait of fetch " + std::to_string(handle) + ": " +
         error);
}

bool Run::finish(std::string &error) const {
  if (!failure.empty()) {
    error = failure;
    return false;
  }
  for (size_t h = 0; h < waited.size(); ++h)
    if (!waited[h]) {
      error = "fetch " + std::to_string(h + 1) +
              " (moert_tier_fetch_start) was started and never waited";
      return false;
    }
  return true;
}

Run *currentRun() { return current; }

RunScope::RunScope(Run &run) : previous(current) { current = &run; }
RunScope::~RunScope() { current = previous; }


} // namespace moert::tier

extern "C" {

MOERT_API int64_t moert_tier_fetch_start(const void *source, void *destination,
                                         int64_t bytes) {
  moert::tier::Run *run = moert::tier::currentRun();
  return run ? run->start(source, destination, bytes) : 0;
}

MOERT_API void moert_tier_fetch_wait(int64_t handle) {
  if (moert::tier::Run *run = moert::tier::currentRun())
    run->wait(handle);
}

} // extern "C"
