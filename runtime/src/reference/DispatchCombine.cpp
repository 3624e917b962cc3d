//===- DispatchCombine.cpp - reference of moe.dispatch and moe.combine ----===//

#include "Numerics.h"
#include "Reference.h"
#include "TensorChecks.h"

#include <algorithm>

namespace moert::reference {

bool dispatch(const HostTensor &tokens, const HostTensor &indices,
              const HostTensor *weights, int64_t numExperts,
              const std::optional<CapacityMode> &capacity, HostTensor &rows,
              HostTensor &offsets, HostTensor &sources, std::string &error) {
  if (!checkFloat(tokens, "tokens", 2, "[T, H]", error) ||
      !checkIndex(indices, "indices", 2, "[T, K]", error) ||
      !checkDim(indices, "indices", 0, tokens.shape[0],
                "the tokens of 'tokens'", error))
    return false;
  // E + 1 offsets must be allocatable; more experts than 2^31 is no MoE.
  if (numExperts < 1 || numExperts > (int64_t(1) << 31)) {
    error = "num_experts must be in [1, 2^31], got " +
            std::to_string(numExperts);
    return false;
  }
  bool byScore = capacity && capacity->policy == DropPolicy::score;
  if (byScore && !weights) {
    error = "drop policy 'score' needs the routing weights";
    return false;
  }
  if (!byScore && weights) {
    error = "'weights' are only used by drop policy 'score'";
    return false;
  }
  if (weights && !checkFloat(*weights, "weights", 2, "[T, K]", error))
    return false;
  if (weights && weights->shape != indices.shape) {
    error = "'weights' shape must match 'indices'";
    return false;
  }
  if (capacity && capacity->capacity < 1) {
    error = "capacity must be positive, got " +
            std::to_string(capacity->capacity);
    return false;
  }

  int64_t numTokens = tokens.shape[0], hidden = tokens.shape[1];
  int64_t topK = indices.shape[1];
  int64_t numSlots = numTokens * topK;
  int64_t numRows = numSlots;
  if (capacity) {
    int64_t bound;
    if (!__builtin_mul_overflow(numExperts, capacity->capacity, &bound))
      numRows = std::min(numRows, bound);
  }

  // Slots of each expert in ascending (token, slot) order, then cut to the
  // capacity by the drop policy; the kept slots stay in (token, slot) order.
  std::vector<std::vector<int64_t>> slotsOf(static_cast<size_t>(numExperts));
  for (int64_t slot = 0; slot < numSlots; ++slot) {
    double expert = indices.data[slot];
    if (expert >= 0 && expert < static_cast<double>(numExperts))
      slotsOf[static_cast<size_t>(expert)].push_back(slot);
  }
  if (capacity)
    for (std::vector<int64_t> &slots : slotsOf) {
      if (static_cast<int64_t>(slots.size()) <= capacity->capacity)
        continue;
      if (capacity->policy == DropPolicy::position) {
        slots.resize(static_cast<size_t>(capacity->capacity));
        continue;
      }
      std::vector<double> slotWeights;
      for (int64_t slot : slots)
        slotWeights.push_back(weights->data[slot]);
      std::vector<int64_t> kept =
          topCountAscending(slotWeights, capacity->capacity);
      std::vector<int64_t> keptSlots;
      for (int64_t position : kept)
        keptSlots.push_back(slots[position]);
      slots = std::move(keptSlots);
    }

  HostTensor outRows = zeroTensor(tokens.dtype, {numRows, hidden});
  HostTensor outOffsets = zeroTensor(indices.dtype, {numExperts + 1});
  HostTensor outSources = zeroTensor(indices.dtype, {numRows});
  std::fill(outSources.data.begin(), outSources.data.end(), -1.0);
  int64_t row = 0;
  for (int64_t e = 0; e < numExperts; ++e) {
    for (int64_t slot : slotsOf[e]) {
      int64_t token = slot / topK;
      std::copy_n(tokens.data.begin() + token * hidden, hidden,
                  outRows.data.begin() + row * hidden);
      outSources.data[row++] = static_cast<double>(slot);
    }
    outOffsets.data[e + 1] = static_cast<double>(row);
  }
  rows = std::move(outRows);
  offsets = std::move(outOffsets);
  sources = std::move(outSources);
  return true;
}

bool combine(const HostTensor &expertOutputs, const HostTensor &sources,
             const HostTensor &weights, HostTensor &result,
             std::string &error) {
  if (!checkFloat(expertOutputs, "expert_outputs", 2, "[R, H]", error) ||
      !checkIndex(sources, "sources", 1, "[R]", error) ||
      !checkFloat(weights, "weights", 2, "[T, K]", error) ||
      !checkDim(sources, "sources", 0, expertOutputs.shape[0],
                "the rows of 'expert_outputs'", error))
    return false;
  int64_t numRows = expertOutputs.shape[0], hidden = expertOutputs.shape[1];
  int64_t numTokens = weights.shape[0], topK = weights.shape[1];
  int64_t numSlots = numTokens * topK;
  HostTensor out = zeroTensor(expertOutputs.dtype, {numTokens, hidden});
  for (int64_t r = 0; r < numRows; ++r) {
    double source = sources.data[r];
    if (source < 0)
      continue;
    if (source >= static_cast<double>(numSlots)) {
      error = "'sources' row " + std::to_string(r) + " names slot " +
              std::to_string(static_cast<int64_t>(source)) + " but there are " +
              std::to_string(numSlots) + " (T·K) slots";
      return false;
    }
    int64_t slot = static_cast<int64_t>(source), token = slot / topK;
    double weight = weights.data[slot];
    for (int64_t h = 0; h < hidden; ++h)
      out.data[token * hidden + h] +=
          weight * expertOutputs.data[r * hidden + h];
  }
  result = std::move(out);
  return true;
}

} // namespace moert::reference
