//===- Experts.cpp - reference of moe.experts and moe.shared_experts ------===//

#include "FFN.h"
#include "Numerics.h"
#include "Reference.h"
#include "TensorChecks.h"

namespace moert::reference {

bool experts(const HostTensor &rows, const HostTensor &offsets,
             const HostTensor *gateWeight, const HostTensor &upWeight,
             const HostTensor &downWeight, Activation activation,
             WeightLayout layout, HostTensor &result, std::string &error) {
  if (!checkFloat(rows, "rows", 2, "[R, H]", error) ||
      !checkIndex(offsets, "offsets", 1, "[E + 1]", error))
    return false;
  int64_t numRows = rows.shape[0], hidden = rows.shape[1];
  int64_t numExperts, intermediate;
  if (!checkFFNWeights(gateWeight, upWeight, downWeight, layout,
                       /*perExpert=*/true, hidden, numExperts, intermediate,
                       "", error) ||
      !checkDim(offsets, "offsets", 0, numExperts + 1,
                "the experts of the weights + 1", error))
    return false;
  // Offsets bound the expert ranges; rows in no range (past offsets[E]) are 0.
  for (int64_t e = 0; e <= numExperts; ++e) {
    double offset = offsets.data[e];
    double previous = e ? offsets.data[e - 1] : 0.0;
    if (offset < previous || offset > static_cast<double>(numRows)) {
      error = "'offsets' must be non-decreasing within [0, " +
              std::to_string(numRows) + "], entry " + std::to_string(e) +
              " is " + std::to_string(static_cast<int64_t>(offset));
      return false;
    }
  }

  HostTensor out = zeroTensor(rows.dtype, {numRows, hidden});
  for (int64_t e = 0; e < numExperts; ++e) {
    int64_t begin = static_cast<int64_t>(offsets.data[e]);
    int64_t end = static_cast<int64_t>(offsets.data[e + 1]);
    if (begin == end)
      continue; // an expert without rows costs nothing
    FFNView ffn = makeFFNView(gateWeight, upWeight, downWeight, layout, e,
                              hidden, intermediate, 0, intermediate);
    for (int64_t r = begin; r < end; ++r)
      applyFFN(ffn, activation, rows.data.data() + r * hidden,
               out.data.data() + r * hidden);
  }
  result = std::move(out);
  return true;
}

bool sharedExperts(const HostTensor &tokens, const HostTensor *gateWeight,
                   const HostTensor &upWeight, const HostTensor &downWeight,
                   const HostTensor *sigmoidGate, Activation activation,
                   WeightLayout layout, HostTensor &result,
                   std::string &error) {
  if (!checkFloat(tokens, "tokens", 2, "[T, H]", error))
    return false;
  int64_t numTokens = tokens.shape[0], hidden = tokens.shape[1];
  int64_t unusedExperts, intermediate;
  if (!checkFFNWeights(gateWeight, upWeight, downWeight, layout,
                       /*perExpert=*/false, hidden, unusedExperts,
                       intermediate, "", error))
    return false;
  if (sigmoidGate &&
      (!checkFloat(*sigmoidGate, "sigmoid_gate", 1, "[H]", error) ||
       !checkDim(*sigmoidGate, "sigmoid_gate", 0, hidden, "the hidden size",
                 error)))
    return false;

  FFNView ffn = makeFFNView(gateWeight, upWeight, downWeight, layout, 0,
                            hidden, intermediate, 0, intermediate);
  HostTensor out = zeroTensor(tokens.dtype, {numTokens, hidden});
  for (int64_t t = 0; t < numTokens; ++t) {
    const double *x = tokens.data.data() + t * hidden;
    double *y = out.data.data() + t * hidden;
    applyFFN(ffn, activation, x, y);
    if (!sigmoidGate)
      continue;
    double logit = 0.0;
    for (int64_t h = 0; h < hidden; ++h)
      logit += x[h] * sigmoidGate->data[h];
    double scale = sigmoid(logit);
    for (int64_t h = 0; h < hidden; ++h)
      y[h] *= scale;
  }
  result = std::move(out);
  return true;
}

} // namespace moert::reference
