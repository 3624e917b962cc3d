//===- RouterTest.cpp - hand-computed cases of the moe.router reference ---===//

#include "Reference.h"
#include "TestTensors.h"

#include <cmath>

using namespace moert::reference;
using namespace moert::reference::testing;

namespace {

struct Routed {
  HostTensor weights, indices;
};

Routed route(const HostTensor &logits, const Routing &routing,
             const HostTensor *bias = nullptr) {
  Routed out;
  std::string error;
  EXPECT_TRUE(router(logits, bias, routing, out.weights, out.indices, error))
      << error;
  return out;
}

std::string routeError(const HostTensor &logits, const Routing &routing,
                       const HostTensor *bias = nullptr) {
  HostTensor weights, indices;
  std::string error;
  EXPECT_FALSE(router(logits, bias, routing, weights, indices, error));
  return error;
}

Routing softmaxTopK(int64_t k, bool renormalize) {
  Routing routing;
  routing.topK = k;
  routing.renormalize = renormalize;
  return routing;
}

/// Sigmoid logits of the given scores: the router's s is exactly `scores`.
HostTensor sigmoidLogits(const std::vector<double> &scores) {
  HostTensor logits = f32({1, static_cast<int64_t>(scores.size())}, {});
  for (double score : scores)
    logits.data.push_back(logit(score));
  return logits;
}

// Tests that Mixtral routing (softmax, top-2, renormalise) picks the two
// largest logits in descending order with weights summing to 1.
TEST(RouterTest, SoftmaxTopTwoRenormalised) {
  Routed out = route(f32({1, 4}, {1, 3, 2, 0}), softmaxTopK(2, true));
  EXPECT_EQ(out.indices.data, (std::vector<double>{1, 2}));
  EXPECT_EQ(out.indices.shape, (std::vector<int64_t>{1, 2}));
  // e^3 / (e^3 + e^2) = sigmoid(1).
  expectNear(out.weights.data, {1 / (1 + std::exp(-1.0)),
                                1 / (1 + std::exp(1.0))});
}

// Tests that without renormalisation the weights are the softmax over all
// experts (OLMoE / Qwen2-MoE).
TEST(RouterTest, SoftmaxWithoutRenormalisation) {
  Routed out = route(f32({1, 3}, {0, std::log(2.0), std::log(5.0)}),
                     softmaxTopK(2, false));
  EXPECT_EQ(out.indices.data, (std::vector<double>{2, 1}));
  expectNear(out.weights.data, {5.0 / 8, 2.0 / 8});
}

// Tests that equal scores go to the lower expert index, in every slot.
TEST(RouterTest, TiesGoToTheLowerIndex) {
  Routed out = route(f32({2, 4}, {0.5, 2, 2, 2, /**/ 1, 1, 1, 1}),
                     softmaxTopK(3, false));
  EXPECT_EQ(out.indices.data, (std::vector<double>{1, 2, 3, 0, 1, 2}));
  expectNear({out.weights.data[3], out.weights.data[4]}, {0.25, 0.25});
}

// Tests K = E: every expert is chosen once, in descending score order.
TEST(RouterTest, TopKEqualsNumberOfExperts) {
  Routed out = route(f32({1, 3}, {0.1, 0.3, 0.2}), softmaxTopK(3, true));
  EXPECT_EQ(out.indices.data, (std::vector<double>{1, 2, 0}));
  double sum = out.weights.data[0] + out.weights.data[1] + out.weights.data[2];
  EXPECT_NEAR(sum, 1.0, 1e-15);
}

// Tests that the selection bias changes which experts are chosen but never
// their weights, and that scaling_factor multiplies the weights.
TEST(RouterTest, SigmoidBiasSelectsButDoesNotWeight) {
  Routing routing;
  routing.scoring = Scoring::sigmoid;
  routing.topK = 2;
  routing.scalingFactor = 2.0;
  HostTensor bias = f32({4}, {10, 0, 0, 0});
  Routed out = route(f32({1, 4}, {0, 1, -1, 2}), routing, &bias);
  EXPECT_EQ(out.indices.data, (std::vector<double>{0, 3}));
  expectNear(out.weights.data, {2.0 * 0.5, 2.0 / (1 + std::exp(-2.0))});
}

// Tests renormalisation happens before scaling (DeepSeek-V3).
TEST(RouterTest, RenormaliseThenScale) {
  Routing routing;
  routing.scoring = Scoring::sigmoid;
  routing.topK = 2;
  routing.renormalize = true;
  routing.scalingFactor = 2.5;
  Routed out = route(sigmoidLogits({0.2, 0.6, 0.2, 0.4}), routing);
  EXPECT_EQ(out.indices.data, (std::vector<double>{1, 3}));
  expectNear(out.weights.data, {2.5 * 0.6, 2.5 * 0.4});
}

// The group-limited cases: 4 groups of 2 experts, scores chosen so that
// top2_sum, max and ungrouped selection all differ.
const std::vector<double> kGroupScores = {0.9, 0.1,  0.6, 0.6,
                                          0.55, 0.55, 0.7, 0.05};

Routing grouped(GroupScore score) {
  Routing routing;
  routing.scoring = Scoring::sigmoid;
  routing.topK = 3;
  routing.numGroups = 4;
  routing.keptGroups = 2;
  routing.groupScore = score;
  return routing;
}

// Tests ungrouped selection on the group cases, for contrast.
TEST(RouterTest, GroupCasesUngrouped) {
  Routing routing = grouped(GroupScore::top2Sum);
  routing.numGroups = 1;
  routing.keptGroups.reset();
  Routed out = route(sigmoidLogits(kGroupScores), routing);
  EXPECT_EQ(out.indices.data, (std::vector<double>{0, 6, 2}));
}

// Tests DeepSeek-V3 group scores: group sums 1.0, 1.2, 1.1, 0.75 keep groups
// 1 and 2, so expert 0 (the best single score) cannot be chosen.
TEST(RouterTest, GroupLimitedTopTwoSum) {
  Routed out = route(sigmoidLogits(kGroupScores), grouped(GroupScore::top2Sum));
  EXPECT_EQ(out.indices.data, (std::vector<double>{2, 3, 4}));
  expectNear(out.weights.data, {0.6, 0.6, 0.55});
}

// Tests DeepSeek-V2 group_limited_greedy: group maxima 0.9, 0.6, 0.55, 0.7
// keep groups 0 and 3; the third choice is 1 (0.1), not 2 (0.6).
TEST(RouterTest, GroupLimitedMax) {
  Routed out = route(sigmoidLogits(kGroupScores), grouped(GroupScore::max));
  EXPECT_EQ(out.indices.data, (std::vector<double>{0, 6, 1}));
  expectNear(out.weights.data, {0.9, 0.7, 0.1});
}

// Tests that experts of dropped groups stay unselectable even when every
// kept score is negative after the bias (they are excluded, not zeroed).
TEST(RouterTest, GroupLimitedExcludesDroppedGroupsUnderNegativeBias) {
  Routing routing = grouped(GroupScore::top2Sum);
  routing.topK = 2;
  HostTensor bias = f32({8}, {0, 0, -2, -2, -3, -3, 0, 0});
  // Selection scores: g0 {0.9, 0.1} = 1.0, g1 {-1.4, -1.4}, g2 {-2.45,
  // -2.45}, g3 {0.7, 0.05} = 0.75: keep groups 0 and 3.
  Routed out = route(sigmoidLogits(kGroupScores), routing, &bias);
  EXPECT_EQ(out.indices.data, (std::vector<double>{0, 6}));
  // Now make groups 1 and 2 win with negative selection scores.
  bias = f32({8}, {-5, -5, -1, -1, -1, -1, -5, -5});
  out = route(sigmoidLogits(kGroupScores), routing, &bias);
  EXPECT_EQ(out.indices.data, (std::vector<double>{2, 3}));
  expectNear(out.weights.data, {0.6, 0.6});
}

// Tests top-p: the shortest prefix reaching p is kept, the remaining slots
// point at the first zero expert (column 4) with weight 0.
TEST(RouterTest, TopPFillsUnusedSlotsWithTheZeroExpert) {
  Routing routing;
  routing.topK = 3;
  routing.topP = 0.6;
  routing.zeroExperts = 1;
  // Softmax of log p is p: token 0 reaches 0.6 after two experts, token 1
  // after one, token 2 never within K (all three slots used).
  HostTensor logits = f32({3, 5}, {});
  for (double p : {0.5, 0.3, 0.1, 0.05, 0.05, /**/ 0.05, 0.7, 0.1, 0.1, 0.05,
                   /**/ 0.2, 0.15, 0.25, 0.3, 0.1})
    logits.data.push_back(std::log(p));
  Routed out = route(logits, routing);
  EXPECT_EQ(out.indices.data,
            (std::vector<double>{0, 1, 4, /**/ 1, 4, 4, /**/ 3, 2, 0}));
  expectNear(out.weights.data,
             {0.5, 0.3, 0, /**/ 0.7, 0, 0, /**/ 0.3, 0.25, 0.2});
  // Renormalised over the kept prefix only.
  routing.renormalize = true;
  out = route(logits, routing);
  expectNear(out.weights.data, {0.625, 0.375, 0, /**/ 1, 0, 0,
                                /**/ 0.3 / 0.75, 0.25 / 0.75, 0.2 / 0.75});
}

// Tests that null experts are ordinary columns for selection.
TEST(RouterTest, NullExpertsAreSelectable) {
  Routing routing = softmaxTopK(2, false);
  routing.zeroExperts = 1;
  routing.copyExperts = 1;
  Routed out = route(f32({1, 4}, {0, 1, 3, 2}), routing);
  EXPECT_EQ(out.indices.data, (std::vector<double>{2, 3}));
}

// Tests a single token with K = 1 over many experts.
TEST(RouterTest, SingleToken) {
  Routed out = route(f32({1, 6}, {0, 0, 0, 0, 0, 1e-9}), softmaxTopK(1, true));
  EXPECT_EQ(out.indices.data, (std::vector<double>{5}));
  expectNear(out.weights.data, {1.0});
}

// Tests that bad inputs are reported, not asserted.
TEST(RouterTest, Errors) {
  HostTensor logits = f32({2, 4}, std::vector<double>(8, 0.0));
  EXPECT_NE(routeError(logits, softmaxTopK(5, false)).find("exceeds"),
            std::string::npos);
  EXPECT_NE(routeError(logits, softmaxTopK(0, false)).find("top_k"),
            std::string::npos);
  HostTensor shortBias = f32({3}, {0, 0, 0});
  EXPECT_NE(routeError(logits, softmaxTopK(2, false), &shortBias).find("bias"),
            std::string::npos);
  EXPECT_NE(routeError(f32({8}, std::vector<double>(8, 0.0)),
                       softmaxTopK(2, false))
                .find("rank 2"),
            std::string::npos);
  HostTensor badData = f32({2, 4}, {0, 0});
  EXPECT_NE(routeError(badData, softmaxTopK(2, false)).find("holds"),
            std::string::npos);
  HostTensor indexLogits = i32({2, 4}, std::vector<double>(8, 0.0));
  EXPECT_NE(routeError(indexLogits, softmaxTopK(2, false)).find("float"),
            std::string::npos);
  Routing topP = softmaxTopK(2, false);
  topP.topP = 0.5;
  EXPECT_NE(routeError(logits, topP).find("zero expert"), std::string::npos);
  Routing groups = softmaxTopK(2, false);
  groups.numGroups = 3;
  EXPECT_NE(routeError(logits, groups).find("divide"), std::string::npos);
  Routing tooFewKept = softmaxTopK(3, false);
  tooFewKept.numGroups = 2;
  tooFewKept.keptGroups = 1;
  EXPECT_NE(routeError(logits, tooFewKept).find("kept groups"),
            std::string::npos);
  Routing allNull = softmaxTopK(1, false);
  allNull.zeroExperts = 4;
  EXPECT_NE(routeError(logits, allNull).find("no routed"), std::string::npos);
  HostTensor nan = f32({1, 2}, {0, std::nan("")});
  EXPECT_NE(routeError(nan, softmaxTopK(1, false)).find("non-finite"),
            std::string::npos);
}

} // namespace
