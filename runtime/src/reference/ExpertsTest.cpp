//===- ExpertsTest.cpp - experts, shared and null expert references -------===//

#include "Reference.h"
#include "TestTensors.h"

#include <cmath>

using namespace moert::reference;
using namespace moert::reference::testing;

namespace {

double silu(double x) { return x / (1 + std::exp(-x)); }

// Tests the activations at known points.
TEST(ActivationTest, KnownValues) {
  EXPECT_NEAR(activate(Activation::silu, 1.0), 0.7310585786300049, 1e-15);
  EXPECT_NEAR(activate(Activation::gelu, 1.0), 0.8413447460685429, 1e-15);
  EXPECT_NEAR(activate(Activation::geluTanh, 1.0), 0.8411919906082768, 1e-15);
  EXPECT_EQ(activate(Activation::relu, -1.0), 0.0);
  EXPECT_EQ(activate(Activation::relu, 2.5), 2.5);
}

// Two experts, H = 2, F = 2, in_out: gate_0 = I, up_0 = [[1, 1], [1, -1]],
// down_0 = I; expert 1 is expert 0 doubled in every weight.
struct TwoExperts {
  HostTensor gate = f32({2, 2, 2}, {1, 0, 0, 1, /**/ 2, 0, 0, 2});
  HostTensor up = f32({2, 2, 2}, {1, 1, 1, -1, /**/ 2, 2, 2, -2});
  HostTensor down = f32({2, 2, 2}, {1, 0, 0, 1, /**/ 2, 0, 0, 2});
};

// Tests gated experts by hand: x = (1, -1): gate·x = (1, -1), up·x = (0, 2),
// so expert 0 gives (0, 2 silu(-1)); expert 1 (x2 weights) gives
// 2·(silu(2)·0, silu(-2)·4) = (0, 8 silu(-2)).
TEST(ExpertsTest, GatedInOutByHand) {
  TwoExperts w;
  HostTensor rows = f32({3, 2}, {1, -1, 1, -1, 5, 5});
  HostTensor offsets = i32({3}, {0, 1, 2}); // row 2 is past offsets[E]
  HostTensor result;
  std::string error;
  ASSERT_TRUE(experts(rows, offsets, &w.gate, w.up, w.down, Activation::silu,
                      WeightLayout::inOut, result, error))
      << error;
  expectNear(result.data, {0, 2 * silu(-1), 0, 8 * silu(-2), 0, 0});
}

// Tests the out_in (Hugging Face) layout gives the same result on the
// transposed weights.
TEST(ExpertsTest, OutInMatchesInOut) {
  TwoExperts w;
  std::mt19937_64 rng(3);
  HostTensor rows = randomF32({5, 2}, rng);
  HostTensor offsets = i32({3}, {0, 3, 5});
  HostTensor inOut, outIn;
  std::string error;
  ASSERT_TRUE(experts(rows, offsets, &w.gate, w.up, w.down, Activation::gelu,
                      WeightLayout::inOut, inOut, error));
  HostTensor gateT = transposeLast2(w.gate), upT = transposeLast2(w.up),
             downT = transposeLast2(w.down);
  ASSERT_TRUE(experts(rows, offsets, &gateT, upT, downT, Activation::gelu,
                      WeightLayout::outIn, outIn, error))
      << error;
  expectNear(outIn.data, inOut.data);
}

// Tests a plain (ungated) FFN with relu, and an expert with no rows.
TEST(ExpertsTest, PlainReluAndEmptyExpert) {
  TwoExperts w;
  HostTensor rows = f32({2, 2}, {1, -1, 2, 1});
  HostTensor offsets = i32({3}, {0, 0, 2}); // expert 0 has no rows
  HostTensor result;
  std::string error;
  ASSERT_TRUE(experts(rows, offsets, nullptr, w.up, w.down, Activation::relu,
                      WeightLayout::inOut, result, error));
  // Expert 1: up·x = 2·(x0 + x1, x0 - x1), relu, down = 2·I.
  expectNear(result.data, {0, 8, 12, 4});
}

// Tests experts errors: offsets of the wrong size or not monotone, a gate of
// another shape than up, a layout mismatch.
TEST(ExpertsTest, Errors) {
  TwoExperts w;
  HostTensor rows = f32({2, 2}, {1, 1, 1, 1});
  HostTensor result;
  std::string error;
  EXPECT_FALSE(experts(rows, i32({2}, {0, 2}), &w.gate, w.up, w.down,
                       Activation::silu, WeightLayout::inOut, result, error));
  EXPECT_NE(error.find("offsets"), std::string::npos);
  EXPECT_FALSE(experts(rows, i32({3}, {0, 2, 1}), &w.gate, w.up, w.down,
                       Activation::silu, WeightLayout::inOut, result, error));
  EXPECT_FALSE(experts(rows, i32({3}, {0, 1, 3}), &w.gate, w.up, w.down,
                       Activation::silu, WeightLayout::inOut, result, error));
  HostTensor gate = f32({2, 2, 3}, std::vector<double>(12, 0.0));
  EXPECT_FALSE(experts(rows, i32({3}, {0, 1, 2}), &gate, w.up, w.down,
                       Activation::silu, WeightLayout::inOut, result, error));
  HostTensor up = f32({2, 2, 3}, std::vector<double>(12, 0.0));
  EXPECT_FALSE(experts(rows, i32({3}, {0, 1, 2}), nullptr, up, w.down,
                       Activation::silu, WeightLayout::inOut, result, error));
  EXPECT_NE(error.find("down_weight"), std::string::npos);
}

// Tests the shared expert by hand with H = F = 1: down·silu(gate·x)·up·x,
// times sigmoid(x·g) when gated (Qwen2-MoE).
TEST(SharedExpertsTest, SigmoidGateByHand) {
  HostTensor x = f32({2, 1}, {2, -1});
  HostTensor gate = f32({1, 1}, {1}), up = f32({1, 1}, {3}),
             down = f32({1, 1}, {0.5});
  HostTensor sigmoidGate = f32({1}, {0.25});
  HostTensor result;
  std::string error;
  ASSERT_TRUE(sharedExperts(x, &gate, up, down, nullptr, Activation::silu,
                            WeightLayout::inOut, result, error));
  expectNear(result.data, {3 * silu(2), -1.5 * silu(-1)});
  ASSERT_TRUE(sharedExperts(x, &gate, up, down, &sigmoidGate,
                            Activation::silu, WeightLayout::outIn, result,
                            error));
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  expectNear(result.data,
             {3 * silu(2) * sig(0.5), -1.5 * silu(-1) * sig(-0.25)});
  HostTensor badGate = f32({2}, {0, 0});
  EXPECT_FALSE(sharedExperts(x, &gate, up, down, &badGate, Activation::silu,
                             WeightLayout::inOut, result, error));
  EXPECT_NE(error.find("sigmoid_gate"), std::string::npos);
}

// Tests null experts by hand: first 3, one zero, one copy, one constant.
// x = (1, 2), v = (10, 20); slot weights 0.1 (zero), 0.2 (copy), 0.3
// (constant), 0.4 (routed expert 0, ignored here).
TEST(NullExpertsTest, ZeroCopyConstantByHand) {
  HostTensor x = f32({1, 2}, {1, 2});
  HostTensor indices = i32({1, 4}, {3, 4, 5, 0});
  HostTensor weights = f32({1, 4}, {0.1, 0.2, 0.3, 0.4});
  HostTensor vectors = f32({1, 2}, {10, 20});
  NullExpertCounts counts{3, 1, 1, 1};
  HostTensor result;
  std::string error;
  // mix = 0: [α1, α2] = [0.5, 0.5].
  HostTensor mix = f32({1, 2, 2}, {0, 0, 0, 0});
  ASSERT_TRUE(nullExperts(x, indices, weights, &vectors, &mix, counts, result,
                          error))
      << error;
  expectNear(result.data, {0.2 * 1 + 0.15 * 1 + 0.15 * 10,
                           0.2 * 2 + 0.15 * 2 + 0.15 * 20});
  // mix_0 = [[1, 0], [0, 0]]: [α1, α2] = softmax(1, 0).
  mix = f32({1, 2, 2}, {1, 0, 0, 0});
  ASSERT_TRUE(nullExperts(x, indices, weights, &vectors, &mix, counts, result,
                          error));
  double a1 = std::exp(1.0) / (std::exp(1.0) + 1), a2 = 1 - a1;
  expectNear(result.data, {0.2 + 0.3 * (a1 * 1 + a2 * 10),
                           0.4 + 0.3 * (a1 * 2 + a2 * 20)});
}

// Tests null expert errors: constants without constant experts and the
// reverse, no null experts at all, a mix of the wrong shape.
TEST(NullExpertsTest, Errors) {
  HostTensor x = f32({1, 2}, {1, 2});
  HostTensor indices = i32({1, 1}, {3});
  HostTensor weights = f32({1, 1}, {1});
  HostTensor vectors = f32({1, 2}, {10, 20});
  HostTensor mix = f32({1, 2, 2}, {0, 0, 0, 0});
  HostTensor result;
  std::string error;
  EXPECT_FALSE(nullExperts(x, indices, weights, nullptr, nullptr,
                           NullExpertCounts{3, 0, 0, 1}, result, error));
  EXPECT_FALSE(nullExperts(x, indices, weights, &vectors, &mix,
                           NullExpertCounts{3, 1, 0, 0}, result, error));
  EXPECT_FALSE(nullExperts(x, indices, weights, nullptr, nullptr,
                           NullExpertCounts{3, 0, 0, 0}, result, error));
  HostTensor badMix = f32({1, 3, 2}, std::vector<double>(6, 0.0));
  EXPECT_FALSE(nullExperts(x, indices, weights, &vectors, &badMix,
                           NullExpertCounts{3, 0, 0, 1}, result, error));
  EXPECT_NE(error.find("constant_mix"), std::string::npos);
}

} // namespace
