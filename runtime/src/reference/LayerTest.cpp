//===- LayerTest.cpp - moe.layer and moe.chain references -----------------===//

#include "Reference.h"
#include "TestTensors.h"

#include <algorithm>
#include <cmath>

using namespace moert::reference;
using namespace moert::reference::testing;

namespace {

double sigmoidOf(double x) { return 1 / (1 + std::exp(-x)); }

/// Random weights of a layer: T tokens, H hidden, E routed + `nulls` null
/// experts, F intermediate, in_out layout.
struct RandomLayer {
  HostTensor tokens, router, gate, up, down, sharedGate, sharedUp, sharedDown,
      sharedSigmoid, vectors, mix;

  RandomLayer(int64_t t, int64_t h, int64_t e, int64_t f, int64_t nulls,
              int64_t constants, uint64_t seed) {
    std::mt19937_64 rng(seed);
    tokens = randomF32({t, h}, rng);
    router = randomF32({h, e + nulls}, rng, 2.0);
    gate = randomF32({e, h, f}, rng);
    up = randomF32({e, h, f}, rng);
    down = randomF32({e, f, h}, rng);
    sharedGate = randomF32({h, 2 * f}, rng);
    sharedUp = randomF32({h, 2 * f}, rng);
    sharedDown = randomF32({2 * f, h}, rng);
    sharedSigmoid = randomF32({h}, rng);
    vectors = randomF32({constants, h}, rng);
    mix = randomF32({constants, 2, h}, rng);
  }

  BlockOperands operands(bool shared, bool constants) const {
    BlockOperands ops;
    ops.tokens = &tokens;
    ops.routerWeight = &router;
    ops.gateWeight = &gate;
    ops.upWeight = &up;
    ops.downWeight = &down;
    if (shared) {
      ops.sharedGateWeight = &sharedGate;
      ops.sharedUpWeight = &sharedUp;
      ops.sharedDownWeight = &sharedDown;
      ops.sharedSigmoidGate = &sharedSigmoid;
    }
    if (constants) {
      ops.constantVectors = &vectors;
      ops.constantMix = &mix;
    }
    return ops;
  }
};

HostTensor runLayer(const BlockOperands &ops, const BlockAttributes &attrs) {
  HostTensor result;
  std::string error;
  EXPECT_TRUE(layer(ops, attrs, result, error)) << error;
  return result;
}

// Tests a layer by hand: H = 1, two plain relu experts, router [[1, -1]]
// sends x = 1 to expert 0 (relu(2x) = 2) and x = -1 to expert 1
// (relu(-3x) = 3), each weighted by its softmax probability sigmoid(2).
TEST(LayerTest, TinyByHand) {
  HostTensor x = f32({2, 1}, {1, -1});
  HostTensor router = f32({1, 2}, {1, -1});
  HostTensor up = f32({2, 1, 1}, {2, -3}), down = f32({2, 1, 1}, {1, 1});
  BlockOperands ops;
  ops.tokens = &x;
  ops.routerWeight = &router;
  ops.upWeight = &up;
  ops.downWeight = &down;
  BlockAttributes attrs;
  attrs.routing.topK = 1;
  attrs.activation = Activation::relu;
  HostTensor result = runLayer(ops, attrs);
  expectNear(result.data, {2 * sigmoidOf(2), 3 * sigmoidOf(2)});
  attrs.routing.renormalize = true;
  expectNear(runLayer(ops, attrs).data, {2, 3});
}

// Tests that the layer is exactly the composition its description states:
// router(x·Wr) + dispatch + experts + combine + null experts + shared.
TEST(LayerTest, EqualsItsDecomposition) {
  RandomLayer w(6, 4, 3, 5, /*nulls=*/3, /*constants=*/1, 11);
  BlockAttributes attrs;
  attrs.routing.topK = 2;
  attrs.routing.zeroExperts = 1;
  attrs.routing.copyExperts = 1;
  attrs.routing.constantExperts = 1;
  HostTensor expected = runLayer(w.operands(true, true), attrs);

  HostTensor logits = zeroTensor("f32", {6, 6});
  for (int64_t t = 0; t < 6; ++t)
    for (int64_t e = 0; e < 6; ++e)
      for (int64_t h = 0; h < 4; ++h)
        logits.data[t * 6 + e] +=
            w.tokens.data[t * 4 + h] * w.router.data[h * 6 + e];
  HostTensor weights, indices, rows, offsets, sources, y, combined, nulls,
      shared;
  std::string error;
  ASSERT_TRUE(router(logits, nullptr, attrs.routing, weights, indices, error));
  ASSERT_TRUE(dispatch(w.tokens, indices, nullptr, 3, std::nullopt, rows,
                       offsets, sources, error));
  ASSERT_TRUE(experts(rows, offsets, &w.gate, w.up, w.down, Activation::silu,
                      WeightLayout::inOut, y, error));
  ASSERT_TRUE(combine(y, sources, weights, combined, error));
  ASSERT_TRUE(nullExperts(w.tokens, indices, weights, &w.vectors, &w.mix,
                          NullExpertCounts{3, 1, 1, 1}, nulls, error));
  ASSERT_TRUE(sharedExperts(w.tokens, &w.sharedGate, w.sharedUp, w.sharedDown,
                            &w.sharedSigmoid, Activation::silu,
                            WeightLayout::inOut, shared, error));
  for (size_t i = 0; i < combined.data.size(); ++i)
    combined.data[i] += nulls.data[i] + shared.data[i];
  expectNear(expected.data, combined.data);
}

// Tests that the out_in layout reads the transposed router and experts.
TEST(LayerTest, OutInMatchesInOut) {
  RandomLayer w(5, 3, 4, 2, 0, 0, 5);
  BlockAttributes attrs;
  attrs.routing.topK = 2;
  attrs.routing.renormalize = true;
  HostTensor inOut = runLayer(w.operands(true, false), attrs);
  RandomLayer t = w;
  t.router = transpose2(w.router);
  t.gate = transposeLast2(w.gate);
  t.up = transposeLast2(w.up);
  t.down = transposeLast2(w.down);
  t.sharedGate = transpose2(w.sharedGate);
  t.sharedUp = transpose2(w.sharedUp);
  t.sharedDown = transpose2(w.sharedDown);
  attrs.layout = WeightLayout::outIn;
  expectNear(runLayer(t.operands(true, false), attrs).data, inOut.data);
}

// Property: permuting the tokens of a batch permutes the output (dropless
// routing is per token), across several routing variants.
TEST(LayerProperty, IndependentOfTokenOrder) {
  std::mt19937_64 rng(21);
  for (int variant = 0; variant < 4; ++variant) {
    RandomLayer w(7, 4, 8, 3, 0, 0, 100 + variant);
    BlockAttributes attrs;
    attrs.routing.topK = 2 + variant % 2;
    if (variant >= 2) { // DeepSeek-V3-like
      attrs.routing.scoring = Scoring::sigmoid;
      attrs.routing.numGroups = 4;
      attrs.routing.keptGroups = 2;
      attrs.routing.groupScore =
          variant == 2 ? GroupScore::top2Sum : GroupScore::max;
      attrs.routing.renormalize = true;
      attrs.routing.scalingFactor = 2.5;
    }
    HostTensor expected = runLayer(w.operands(variant % 2, false), attrs);
    std::vector<int64_t> permutation = {3, 0, 6, 1, 5, 2, 4};
    std::shuffle(permutation.begin(), permutation.end(), rng);
    RandomLayer permuted = w;
    for (int64_t t = 0; t < 7; ++t)
      std::copy_n(w.tokens.data.begin() + permutation[t] * 4, 4,
                  permuted.tokens.data.begin() + t * 4);
    HostTensor result = runLayer(permuted.operands(variant % 2, false), attrs);
    for (int64_t t = 0; t < 7; ++t)
      for (int64_t h = 0; h < 4; ++h)
        EXPECT_NEAR(result.data[t * 4 + h],
                    expected.data[permutation[t] * 4 + h], 1e-12);
  }
}

// Tests capacity mode in the layer: a capacity that caps nothing equals
// dropless; capacity 1 with every token on one expert keeps only token 0.
TEST(LayerTest, CapacityDrops) {
  RandomLayer w(4, 3, 2, 2, 0, 0, 9);
  BlockAttributes attrs;
  attrs.routing.topK = 1;
  HostTensor dropless = runLayer(w.operands(false, false), attrs);
  attrs.capacity = CapacityMode{4, DropPolicy::score};
  expectNear(runLayer(w.operands(false, false), attrs).data, dropless.data);

  // Router column 1 dominates: every token picks expert 1.
  w.router = f32({3, 2}, {0, 50, 0, 50, 0, 50});
  for (double &value : w.tokens.data)
    value = std::fabs(value) + 0.1;
  attrs.capacity.reset();
  dropless = runLayer(w.operands(false, false), attrs);
  attrs.capacity = CapacityMode{1, DropPolicy::position};
  HostTensor capped = runLayer(w.operands(false, false), attrs);
  for (int64_t h = 0; h < 3; ++h)
    EXPECT_NEAR(capped.data[h], dropless.data[h], 1e-12);
  for (size_t i = 3; i < capped.data.size(); ++i)
    EXPECT_EQ(capped.data[i], 0.0);
}

// Tests layer errors: expert count against the router minus null experts,
// half a shared expert, constants without constant experts.
TEST(LayerTest, Errors) {
  RandomLayer w(2, 3, 2, 2, 1, 1, 1);
  BlockAttributes attrs;
  attrs.routing.topK = 1;
  HostTensor result;
  std::string error;
  EXPECT_FALSE(layer(w.operands(false, false), attrs, result, error));
  EXPECT_NE(error.find("null experts"), std::string::npos);
  attrs.routing.zeroExperts = 1;
  BlockOperands half = w.operands(false, false);
  half.sharedUpWeight = &w.sharedUp;
  EXPECT_FALSE(layer(half, attrs, result, error));
  EXPECT_NE(error.find("together"), std::string::npos);
  EXPECT_FALSE(layer(w.operands(false, true), attrs, result, error));
  EXPECT_NE(error.find("constant"), std::string::npos);
  BlockOperands missing = w.operands(false, false);
  missing.upWeight = nullptr;
  EXPECT_FALSE(layer(missing, attrs, result, error));
}

// Tests chain-of-experts: x1 = x0 + layer_1(x0), x2 = x1 + layer_2(x1), each
// iteration with its own router slice and bias, the same experts.
TEST(ChainTest, TwoIterationsByComposition) {
  RandomLayer w(3, 4, 4, 2, 0, 0, 31);
  std::mt19937_64 rng(32);
  HostTensor routers = randomF32({2, 4, 4}, rng);
  HostTensor biases = randomF32({2, 4}, rng, 0.1);
  BlockAttributes attrs;
  attrs.routing.topK = 2;
  BlockOperands ops = w.operands(true, false);
  ops.routerWeight = &routers;
  ops.bias = &biases;
  HostTensor result;
  std::string error;
  ASSERT_TRUE(chain(ops, attrs, 2, result, error)) << error;

  HostTensor state = w.tokens;
  for (int64_t t = 0; t < 2; ++t) {
    HostTensor router = f32({4, 4}, std::vector<double>(
                                        routers.data.begin() + t * 16,
                                        routers.data.begin() + (t + 1) * 16));
    HostTensor bias = f32({4}, std::vector<double>(
                                   biases.data.begin() + t * 4,
                                   biases.data.begin() + (t + 1) * 4));
    BlockOperands step = w.operands(true, false);
    step.tokens = &state;
    step.routerWeight = &router;
    step.bias = &bias;
    HostTensor update = runLayer(step, attrs);
    for (size_t i = 0; i < state.data.size(); ++i)
      state.data[i] += update.data[i];
  }
  expectNear(result.data, state.data);

  EXPECT_FALSE(chain(ops, attrs, 3, result, error));
  EXPECT_NE(error.find("iterations"), std::string::npos);
  attrs.capacity = CapacityMode{1, DropPolicy::position};
  EXPECT_FALSE(chain(ops, attrs, 2, result, error));
}

} // namespace
