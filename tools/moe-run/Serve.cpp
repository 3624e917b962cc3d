//===- Serve.cpp - moe-run on a composition of experts --------------------===//

#include "Serve.h"

#include <cstdio>
#include <cstring>
#include <sstream>

namespace moe_run {

namespace {

/// The name of the manifest function of model `model`.
std::string modelName(const moert_bundle_t *bundle, size_t function,
                      size_t model) {
  size_t callee = 0;
  if (moert_status_t status =
          moert_bundle_composition_model(bundle, function, model, &callee)) {
    moert_status_free(status);
    return "?";
  }
  return moert_bundle_function_name(bundle, callee);
}

/// 1.0 (one) or 0.0 in `dtype` at `out`.
void writeScalar(moert_dtype_t dtype, bool one, unsigned char *out) {
  if (dtype == MOERT_DTYPE_F32) {
    float value = one ? 1.0f : 0.0f;
    std::memcpy(out, &value, 4);
    return;
  }
  // bf16 1.0 = 0x3f80, f16 1.0 = 0x3c00 (the loader admits float selectors).
  uint16_t bits = !one ? 0 : dtype == MOERT_DTYPE_BF16 ? 0x3f80 : 0x3c00;
  std::memcpy(out, &bits, 2);
}

} // namespace

bool routeSelector(const moert_bundle_t *bundle, size_t function,
                   const std::string &route,
                   const moert_tensor_info_t &selector,
                   std::vector<unsigned char> &bytes, std::string &error) {
  moert_composition_info_t info{};
  if (moert_status_t status =
          moert_bundle_composition_info(bundle, function, &info)) {
    error = moert_status_message(status);
    moert_status_free(status);
    return false;
  }
  if (info.model_count == 0) {
    error = std::string("function '") +
            moert_bundle_function_name(bundle, function) +
            "' is not a composition of experts";
    return false;
  }
  std::vector<size_t> models;
  std::stringstream items(route);
  std::string item;
  while (std::getline(items, item, ',')) {
    size_t model = info.model_count;
    for (size_t m = 0; m < info.model_count; ++m)
      if (item == std::to_string(m) || item == modelName(bundle, function, m))
        model = m;
    if (model == info.model_count) {
      error = "'" + item + "' is neither a model column (0 to " +
              std::to_string(info.model_count - 1) + ") nor a model's name";
      return false;
    }
    models.push_back(model);
  }
  size_t requests = static_cast<size_t>(selector.shape[0]);
  if (models.size() != requests) {
    error = std::to_string(models.size()) + " models for " +
            std::to_string(requests) +
            " requests (the selector's rows); give one per request";
    return false;
  }
  size_t elementSize = moert_dtype_size(selector.dtype);
  for (size_t r = 0; r < requests; ++r)
    for (size_t m = 0; m < info.model_count; ++m)
      writeScalar(selector.dtype, m == models[r],
                  bytes.data() + (r * info.model_count + m) * elementSize);
  return true;
}

void printRequests(const moert_bundle_t *bundle, size_t function,
                   const moert_session_t *session) {
  size_t count = moert_session_last_request_count(session);
  double total = 0, switching = 0, staying = 0;
  size_t switches = 0;
  uint64_t bytes = 0, hits = 0, fetches = 0;
  size_t previous = SIZE_MAX;
  for (size_t r = 0; r < count; ++r) {
    moert_request_stats_t stats{};
    if (moert_status_t status =
            moert_session_last_request_stats(session, r, &stats)) {
      moert_status_free(status);
      return;
    }
    bool switched = stats.model != previous;
    previous = stats.model;
    std::printf("request  %zu model %s  %.3f ms  %llu fetch%s (%llu bytes, "
                "%llu hits)%s\n",
                r, modelName(bundle, function, stats.model).c_str(),
                stats.milliseconds,
                (unsigned long long)stats.run.tier_fetches,
                stats.run.tier_fetches == 1 ? "" : "es",
                (unsigned long long)stats.run.tier_fetched_bytes,
                (unsigned long long)stats.run.tier_hits,
                switched ? (r ? "  switch" : "  first") : "");
    hits += stats.run.tier_hits;
    fetches += stats.run.tier_fetches;
    total += stats.milliseconds;
    bytes += stats.run.tier_fetched_bytes;
    if (switched) {
      ++switches;
      switching += stats.milliseconds;
    } else {
      staying += stats.milliseconds;
    }
  }
  if (!count)
    return;
  std::printf("serve    %zu requests in %.3f ms (mean %.3f ms); %zu with a "
              "model switch (mean %.3f ms), %zu without",
              count, total, total / count, switches,
              switches ? switching / switches : 0.0, count - switches);
  if (count > switches)
    std::printf(" (mean %.3f ms)", staying / (count - switches));
  std::printf("; %llu bytes fetched, %llu of %llu fetches hit the cache\n",
              (unsigned long long)bytes, (unsigned long long)hits,
              (unsigned long long)fetches);
}

} // namespace moe_run
