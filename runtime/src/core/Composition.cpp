//===- Composition.cpp - serve a composition of experts -------------------===//

#include "Composition.h"

#include "../weights/HalfBits.h"

#include <chrono>
#include <cmath>
#include <cstring>

namespace moert {

namespace {

float toFloat(const void *data, moert_dtype_t dtype, size_t i) {
  uint16_t half = 0;
  switch (dtype) {
  case MOERT_DTYPE_F32: {
    float value;
    std::memcpy(&value, static_cast<const char *>(data) + 4 * i, 4);
    return value;
  }
  case MOERT_DTYPE_BF16:
    std::memcpy(&half, static_cast<const char *>(data) + 2 * i, 2);
    return bf16BitsToFloat(half);
  case MOERT_DTYPE_F16:
    std::memcpy(&half, static_cast<const char *>(data) + 2 * i, 2);
    return f16BitsToFloat(half);
  default: // the bundle loader admits float selectors only
    return NAN;
  }
}

/// `tensor` advanced by `offset` bytes, `bytes` long.
TensorData slice(const TensorData &tensor, size_t offset, size_t bytes) {
  return {static_cast<char *>(tensor.data) + offset, bytes, tensor.device};
}

} // namespace

std::vector<uint32_t> chooseModels(const void *data, moert_dtype_t dtype,
                                   int64_t requests, int64_t models) {
  std::vector<uint32_t> chosen(static_cast<size_t>(requests), 0);
  for (int64_t r = 0; r < requests; ++r) {
    size_t row = static_cast<size_t>(r * models);
    float best = toFloat(data, dtype, row);
    for (int64_t m = 1; m < models; ++m) {
      float value = toFloat(data, dtype, row + m);
      if (value > best) {
        best = value;
        chosen[r] = static_cast<uint32_t>(m);
      }
    }
  }
  return chosen;
}

bool runComposition(Backend &backend, const Bundle &bundle, size_t function,
                    const std::vector<TensorData> &inputs,
                    const std::vector<TensorData> &outputs,
                    std::vector<RequestStats> &requests, Failure &failure,
                    double *time) {
  requests.clear();
  if (time)
    *time = 0;
  const Function &f = bundle.functions[function];
  const Composition &c = f.composition;
  const TensorData &selector = inputs[c.selector];
  const TensorType &selectorType = f.inputs[c.selector].type;
  // Routing is the host's decision: it picks which compiled model runs.
  if (selector.device) {
    failure = {MOERT_ERROR_UNSUPPORTED,
               "the selector (input " + std::to_string(c.selector) + ", \"" +
                   f.inputs[c.selector].name +
                   "\") of a composition is read on the host: pass it in host "
                   "memory"};
    return false;
  }
  int64_t numRequests = selectorType.shape[0];
  std::vector<uint32_t> chosen = chooseModels(
      selector.data, selectorType.dtype, numRequests, selectorType.shape[1]);
  size_t requestBytes =
      numRequests ? inputs[c.requests].byteSize / numRequests : 0;
  size_t resultBytes = numRequests ? outputs[0].byteSize / numRequests : 0;
  for (int64_t r = 0; r < numRequests; ++r) {
    const Composition::Model &model = c.models[chosen[r]];
    std::vector<TensorData> modelInputs;
    for (size_t j = 0; j < model.inputs.size(); ++j)
      modelInputs.push_back(
          j == 0 ? slice(inputs[c.requests], r * requestBytes, requestBytes)
                 : inputs[model.inputs[j]]);
    std::vector<TensorData> modelOutputs = {
        slice(outputs[0], r * resultBytes, resultBytes)};
    RequestStats stats;
    stats.model = chosen[r];
    auto start = std::chrono::steady_clock::now();
    if (!backend.run(bundle, model.function, modelInputs, modelOutputs,
                     failure)) {
      failure.message = "request " + std::to_string(r) + " (model \"" +
                        bundle.functions[model.function].name +
                        "\"): " + failure.message;
      return false;
    }
    stats.milliseconds = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - start)
                             .count();
    stats.run = backend.lastRunStats();
    if (time)
      *time += stats.milliseconds;
    requests.push_back(stats);
  }
  return true;
}

} // namespace moert
