//===- Composition.cpp - reference of moe.composition ---------------------===//
//
// Per request r: m = the first column of the largest selector[r, m] (ties to
// the lower index), result[r] = model m (inputs[r]). The models are run by the
// caller (the program interpreter runs their nested programs).
//
//===----------------------------------------------------------------------===//

#include "Reference.h"
#include "TensorChecks.h"

#include <algorithm>

namespace moert::reference {

bool composition(const HostTensor &selector, const HostTensor &inputs,
                 int64_t numModels,
                 const std::vector<int64_t> &requestResultShape,
                 const RunModel &runModel, HostTensor &result,
                 std::string &error) {
  if (numModels < 1) {
    error = "a composition needs at least one model";
    return false;
  }
  if (!checkFloat(selector, "selector", 2, "[R, M]", error) ||
      !checkDim(selector, "selector", 1, numModels, "the number of models",
                error) ||
      !checkFinite(selector, "selector", error))
    return false;
  int64_t requests = selector.shape[0];
  if (inputs.shape.empty() ||
      inputs.data.size() != static_cast<size_t>(elementCount(inputs.shape)) ||
      !isFloatDtype(inputs.dtype)) {
    error = "'inputs' must be a well-formed float tensor with a leading "
            "request dimension";
    return false;
  }
  if (!checkDim(inputs, "inputs", 0, requests, "the requests of 'selector'",
                error))
    return false;
  int64_t requestResultSize = elementCount(requestResultShape);
  if (requestResultSize < 0) {
    error = "the result shape per request " +
            shapeToString(requestResultShape) + " is not valid";
    return false;
  }
  std::vector<int64_t> requestShape(inputs.shape.begin() + 1,
                                    inputs.shape.end());
  int64_t requestSize = elementCount(requestShape);
  std::vector<int64_t> resultShape = {requests};
  resultShape.insert(resultShape.end(), requestResultShape.begin(),
                     requestResultShape.end());
  if (elementCount(resultShape) < 0) {
    error = "the result shape " + shapeToString(resultShape) +
            " has too many elements";
    return false;
  }

  HostTensor out = zeroTensor(inputs.dtype, resultShape);
  for (int64_t r = 0; r < requests; ++r) {
    const double *row = selector.data.data() + r * numModels;
    int64_t chosen = 0;
    for (int64_t m = 1; m < numModels; ++m)
      if (row[m] > row[chosen])
        chosen = m;
    HostTensor request{
        inputs.dtype, requestShape,
        std::vector<double>(inputs.data.begin() + r * requestSize,
                            inputs.data.begin() + (r + 1) * requestSize)};
    HostTensor modelResult;
    std::string modelError;
    if (!runModel(chosen, request, modelResult, modelError)) {
      error = "model " + std::to_string(chosen) + " on request " +
              std::to_string(r) + ": " + modelError;
      return false;
    }
    if (modelResult.shape != requestResultShape ||
        modelResult.data.size() != static_cast<size_t>(requestResultSize)) {
      error = "model " + std::to_string(chosen) + " on request " +
              std::to_string(r) + " returned shape " +
              shapeToString(modelResult.shape) + ", expected " +
              shapeToString(requestResultShape);
      return false;
    }
    std::copy(modelResult.data.begin(), modelResult.data.end(),
              out.data.begin() + r * requestResultSize);
  }
  result = std::move(out);
  return true;
}

} // namespace moert::reference
