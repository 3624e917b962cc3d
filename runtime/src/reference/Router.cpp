//===- Router.cpp - reference of moe.router --------------------------------===//
//
// Per token: scores s = softmax|sigmoid(logits) over all E columns (null
// experts included); selection scores s + bias; group-limited selection keeps
// the best `kept_groups` groups first; top-K by descending selection score,
// ties to the lower index; weights are the unbiased s of the chosen, cut to
// the top-p prefix, renormalised, scaled.
//
//===----------------------------------------------------------------------===//

#include "Numerics.h"
#include "Reference.h"
#include "TensorChecks.h"

#include <cmath>
#include <limits>

namespace moert::reference {

/// The checks of #moe.routing's verifier and of verifyAgainst(E).
static bool checkRouting(const Routing &routing, int64_t numExperts,
                         std::string &error) {
  auto fail = [&](std::string message) {
    error = "routing: " + std::move(message);
    return false;
  };
  if (routing.topK < 1)
    return fail("top_k must be at least 1, got " +
                std::to_string(routing.topK));
  if (!std::isfinite(routing.scalingFactor) || routing.scalingFactor <= 0.0)
    return fail("scaling_factor must be positive and finite");
  if (routing.numGroups < 1)
    return fail("num_groups must be at least 1");
  int64_t keptGroups = routing.keptGroups.value_or(routing.numGroups);
  if (keptGroups < 1 || keptGroups > routing.numGroups)
    return fail("kept_groups must be between 1 and num_groups");
  if (routing.topP && !(*routing.topP > 0.0 && *routing.topP <= 1.0))
    return fail("top_p must be in (0, 1]");
  int64_t numNull = 0;
  for (int64_t count : {routing.zeroExperts, routing.copyExperts,
                        routing.constantExperts})
    if (count < 0 || __builtin_add_overflow(numNull, count, &numNull))
      return fail("null expert counts must be non-negative and small");
  if (routing.topP && routing.zeroExperts < 1)
    return fail("top_p routing needs at least one zero expert");
  if (routing.numGroups > 1 && numNull > 0)
    return fail("group-limited selection cannot be combined with null "
                "experts");
  int64_t routed = numExperts - numNull;
  if (routed < 1)
    return fail(std::to_string(numNull) + " null experts leave no routed "
                "expert among " + std::to_string(numExperts));
  if (routing.topK > numExperts)
    return fail("top_k (" + std::to_string(routing.topK) +
                ") exceeds the number of experts (" +
                std::to_string(numExperts) + ")");
  if (routing.numGroups == 1)
    return true;
  if (routed % routing.numGroups != 0)
    return fail("num_groups does not divide the routed experts");
  int64_t groupSize = routed / routing.numGroups;
  if (routing.groupScore == GroupScore::top2Sum && groupSize < 2)
    return fail("group_score top2_sum needs at least 2 experts per group");
  if (routing.topK > keptGroups * groupSize)
    return fail("top_k exceeds the experts of the kept groups");
  return true;
}

/// Marks the experts of the best `kept` groups selectable. Groups are ranked
/// by top2_sum or max of their selection scores, ties to the lower group.
static std::vector<bool> keptGroupMask(const std::vector<double> &selection,
                                       const Routing &routing, int64_t kept) {
  int64_t groupSize =
      static_cast<int64_t>(selection.size()) / routing.numGroups;
  std::vector<double> groupScores(static_cast<size_t>(routing.numGroups));
  for (int64_t g = 0; g < routing.numGroups; ++g) {
    std::vector<double> members(selection.begin() + g * groupSize,
                                selection.begin() + (g + 1) * groupSize);
    std::vector<int64_t> order = orderDescending(members);
    groupScores[g] = routing.groupScore == GroupScore::max
                         ? members[order[0]]
                         : members[order[0]] + members[order[1]];
  }
  std::vector<int64_t> groupOrder = orderDescending(groupScores);
  std::vector<bool> selectable(selection.size(), false);
  for (int64_t rank = 0; rank < kept; ++rank)
    for (int64_t i = 0; i < groupSize; ++i)
      selectable[groupOrder[rank] * groupSize + i] = true;
  return selectable;
}

bool router(const HostTensor &logits, const HostTensor *bias,
            const Routing &routing, HostTensor &weights, HostTensor &indices,
            std::string &error) {
  if (!checkFloat(logits, "logits", 2, "[T, E]", error) ||
      !checkFinite(logits, "logits", error))
    return false;
  int64_t numTokens = logits.shape[0], numExperts = logits.shape[1];
  if (bias && (!checkFloat(*bias, "bias", 1, "[E]", error) ||
               !checkDim(*bias, "bias", 0, numExperts,
                         "the experts of 'logits'", error) ||
               !checkFinite(*bias, "bias", error)))
    return false;
  if (!checkRouting(routing, numExperts, error))
    return false;

  int64_t topK = routing.topK;
  int64_t firstZeroExpert = numExperts - routing.numNullExperts();
  int64_t keptGroups = routing.keptGroups.value_or(routing.numGroups);
  HostTensor outWeights = zeroTensor(logits.dtype, {numTokens, topK});
  HostTensor outIndices = zeroTensor("i32", {numTokens, topK});
  for (int64_t t = 0; t < numTokens; ++t) {
    std::vector<double> scores(logits.data.begin() + t * numExperts,
                               logits.data.begin() + (t + 1) * numExperts);
    if (routing.scoring == Scoring::softmax)
      softmaxInPlace(scores.data(), numExperts);
    else
      for (double &score : scores)
        score = sigmoid(score);

    std::vector<double> selection = scores;
    if (bias)
      for (int64_t e = 0; e < numExperts; ++e)
        selection[e] += bias->data[e];
    if (keptGroups < routing.numGroups) {
      // Experts of dropped groups cannot be chosen at all (not merely scored
      // 0, which could still beat a negative biased score).
      std::vector<bool> selectable =
          keptGroupMask(selection, routing, keptGroups);
      for (int64_t e = 0; e < numExperts; ++e)
        if (!selectable[e])
          selection[e] = -std::numeric_limits<double>::infinity();
    }
    std::vector<int64_t> order = orderDescending(selection);

    std::vector<double> chosen(static_cast<size_t>(topK));
    for (int64_t k = 0; k < topK; ++k)
      chosen[k] = scores[order[k]];
    // Top-p: the shortest prefix (in selection order) whose unbiased scores
    // reach p, at least 1 and at most K slots.
    int64_t used = topK;
    if (routing.topP) {
      double cumulative = 0.0;
      for (used = 0; used < topK;) {
        cumulative += chosen[used++];
        if (cumulative >= *routing.topP)
          break;
      }
    }
    double sum = 0.0;
    for (int64_t k = 0; k < used; ++k)
      sum += chosen[k];
    for (int64_t k = 0; k < topK; ++k) {
      double weight = k < used ? chosen[k] : 0.0;
      if (routing.renormalize && sum > 0.0)
        weight /= sum;
      outWeights.data[t * topK + k] = weight * routing.scalingFactor;
      outIndices.data[t * topK + k] =
          static_cast<double>(k < used ? order[k] : firstZeroExpert);
    }
  }
  weights = std::move(outWeights);
  indices = std::move(outIndices);
  return true;
}

} // namespace moert::reference
