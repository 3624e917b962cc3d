//===- NullExperts.cpp - reference of moe.null_experts --------------------===//
//
// Null experts numbered from `first`: zero experts (→ 0), then copy experts
// (→ x), then constant experts (j → α₁x + α₂v_j, [α₁, α₂] = softmax(mix_j·x)).
// Slots holding a routed expert (or anything outside the null range) add
// nothing here.
//
//===----------------------------------------------------------------------===//

#include "Numerics.h"
#include "Reference.h"
#include "TensorChecks.h"

namespace moert::reference {

bool nullExperts(const HostTensor &tokens, const HostTensor &indices,
                 const HostTensor &weights, const HostTensor *constantVectors,
                 const HostTensor *constantMix, const NullExpertCounts &counts,
                 HostTensor &result, std::string &error) {
  if (!checkFloat(tokens, "tokens", 2, "[T, H]", error) ||
      !checkIndex(indices, "indices", 2, "[T, K]", error) ||
      !checkFloat(weights, "weights", 2, "[T, K]", error) ||
      !checkDim(indices, "indices", 0, tokens.shape[0],
                "the tokens of 'tokens'", error))
    return false;
  if (weights.shape != indices.shape) {
    error = "'weights' shape must match 'indices'";
    return false;
  }
  int64_t numNull = 0;
  for (int64_t count : {counts.first, counts.zero, counts.copy,
                        counts.constant})
    if (count < 0 || __builtin_add_overflow(numNull, count, &numNull)) {
      error = "null expert numbering must be non-negative and small";
      return false;
    }
  if (counts.zero + counts.copy + counts.constant == 0) {
    error = "declares no null experts";
    return false;
  }
  int64_t numTokens = tokens.shape[0], hidden = tokens.shape[1];
  bool hasConstants = constantVectors || constantMix;
  if ((counts.constant > 0) != hasConstants ||
      (hasConstants && !(constantVectors && constantMix))) {
    error = counts.constant > 0
                ? "constant experts need 'constant_vectors' and 'constant_mix'"
                : "'constant_vectors'/'constant_mix' are given but there are "
                  "no constant experts";
    return false;
  }
  if (hasConstants &&
      (!checkFloat(*constantVectors, "constant_vectors", 2, "[Nc, H]",
                   error) ||
       !checkFloat(*constantMix, "constant_mix", 3, "[Nc, 2, H]", error) ||
       !checkDim(*constantVectors, "constant_vectors", 0, counts.constant,
                 "the constant experts", error) ||
       !checkDim(*constantVectors, "constant_vectors", 1, hidden,
                 "the hidden size", error) ||
       !checkDim(*constantMix, "constant_mix", 0, counts.constant,
                 "the constant experts", error) ||
       !checkDim(*constantMix, "constant_mix", 1, 2,
                 "the two mixing weights", error) ||
       !checkDim(*constantMix, "constant_mix", 2, hidden, "the hidden size",
                 error)))
    return false;

  int64_t topK = indices.shape[1];
  int64_t firstCopy = counts.first + counts.zero;
  int64_t firstConstant = firstCopy + counts.copy;
  int64_t end = firstConstant + counts.constant;
  HostTensor out = zeroTensor(tokens.dtype, {numTokens, hidden});
  for (int64_t t = 0; t < numTokens; ++t) {
    const double *x = tokens.data.data() + t * hidden;
    double *y = out.data.data() + t * hidden;
    for (int64_t k = 0; k < topK; ++k) {
      double expert = indices.data[t * topK + k];
      double weight = weights.data[t * topK + k];
      if (expert < static_cast<double>(firstCopy) ||
          expert >= static_cast<double>(end))
        continue; // routed, zero or out of range: contributes nothing
      if (expert < static_cast<double>(firstConstant)) {
        for (int64_t h = 0; h < hidden; ++h)
          y[h] += weight * x[h];
        continue;
      }
      int64_t j = static_cast<int64_t>(expert) - firstConstant;
      const double *mix = constantMix->data.data() + j * 2 * hidden;
      const double *vector = constantVectors->data.data() + j * hidden;
      double alpha[2] = {0.0, 0.0};
      for (int64_t h = 0; h < hidden; ++h) {
        alpha[0] += mix[h] * x[h];
        alpha[1] += mix[hidden + h] * x[h];
      }
      softmaxInPlace(alpha, 2);
      for (int64_t h = 0; h < hidden; ++h)
        y[h] += weight * (alpha[0] * x[h] + alpha[1] * vector[h]);
    }
  }
  result = std::move(out);
  return true;
}

} // namespace moert::reference
