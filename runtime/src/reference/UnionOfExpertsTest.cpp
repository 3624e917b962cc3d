//===- UnionOfExpertsTest.cpp - union_attention / union_ffn references ----===//

#include "Reference.h"
#include "TestTensors.h"

#include <cmath>

using namespace moert::reference;
using namespace moert::reference::testing;

namespace {

/// One head, D = Dh = 2, identity projections unless replaced.
struct OneHead {
  HostTensor gate = f32({2, 1}, {0, 0});
  HostTensor bias = f32({1}, {0});
  HostTensor query = f32({1, 2, 2}, {1, 0, 0, 1});
  HostTensor key = f32({1, 2, 2}, {1, 0, 0, 1});
  HostTensor value = f32({1, 2, 2}, {1, 0, 0, 1});
  HostTensor output = f32({1, 2, 2}, {1, 0, 0, 1});

  UnionAttentionOperands operands(const HostTensor &tokens) const {
    return {&tokens, &gate, &bias, &query, &key, &value, &output};
  }
};

HostTensor attend(const UnionAttentionOperands &ops, int64_t topK,
                  int64_t capacity, double theta = 10000.0) {
  HostTensor result;
  std::string error;
  EXPECT_TRUE(unionAttention(ops, topK, capacity, theta, result, error))
      << error;
  return result;
}

// Tests causal attention with RoPE on compacted positions, by hand, with
// identity projections and theta = 1 (rotation angle = position):
// x0 = (1, 0) attends only itself -> x0. At position 1, q1 = k1 =
// rot(1)·(0, 1) = (-sin 1, cos 1), k0 = (1, 0): scores (-sin 1, 1)/√2.
TEST(UnionAttentionTest, RopeCausalByHand) {
  OneHead head;
  HostTensor x = f32({1, 2, 2}, {1, 0, 0, 1});
  HostTensor result = attend(head.operands(x), 1, 2, /*theta=*/1.0);
  double s0 = -std::sin(1.0) / std::sqrt(2.0), s1 = 1 / std::sqrt(2.0);
  double a0 = std::exp(s0) / (std::exp(s0) + std::exp(s1)), a1 = 1 - a0;
  expectNear(result.data, {1, 0, a0, a1});
}

// Tests the compacted positions: with capacity 2 of 3 tokens, the kept
// tokens are renumbered 0, 1 whatever their sequence positions.
TEST(UnionAttentionTest, PositionsAreCompacted) {
  // Two heads, gate logits (4·x[0], 0): head 0 is the top-1 head of the
  // tokens with x[0] > 0. Head 1 has zero projections (adds nothing).
  HostTensor gate = f32({2, 2}, {4, 0, 0, 0});
  HostTensor bias = f32({2}, {0, 0});
  HostTensor q = f32({2, 2, 2}, {1, 0, 0, 1, 0, 0, 0, 0});
  HostTensor o = f32({2, 2, 2}, {1, 0, 0, 1, 0, 0, 0, 0});
  // Position 1 has x[0] < 0, so head 0 is not its top-1 head.
  HostTensor x3 = f32({1, 3, 2}, {1, 0, -1, 0, 0.5, 1});
  UnionAttentionOperands ops{&x3, &gate, &bias, &q, &q, &q, &o};
  HostTensor result = attend(ops, 1, 2, 1.0);
  // The same two tokens alone, at positions 0 and 1.
  // Head 0 keeps positions 0 and 2; position 2 sits at compacted position 1.
  HostTensor x2 = f32({1, 2, 2}, {1, 0, 0.5, 1});
  UnionAttentionOperands compact{&x2, &gate, &bias, &q, &q, &q, &o};
  HostTensor expected = attend(compact, 1, 2, 1.0);
  expectNear({result.data[0], result.data[1], result.data[4], result.data[5]},
             expected.data);
  expectNear({result.data[2], result.data[3]}, {0, 0});
}

// Tests the normalisation over the batch axis changes the selection: head 0's
// masked gate is (0.6, 0.7) in sequence 0 and (0.6, 0.9) in sequence 1, so
// normalised it is (0.5, 0.4375) in sequence 0, which now keeps position 0.
TEST(UnionAttentionTest, GateNormalisedOverBatch) {
  // Two heads; logits (x0, 0): p_head0 = sigmoid(x0).
  HostTensor gate = f32({2, 2}, {1, 0, 0, 0});
  HostTensor bias = f32({2}, {0, 0});
  HostTensor x = f32({2, 2, 2}, {logit(0.6), 1, logit(0.7), 1, //
                                 logit(0.6), 1, logit(0.9), 1});
  // Head 0: zero query (uniform attention), value = identity, output = I;
  // head 1 outputs nothing (and keeps nothing: its gate is masked to 0).
  HostTensor q = f32({2, 2, 2}, {0, 0, 0, 0, 0, 0, 0, 0});
  HostTensor v = f32({2, 2, 2}, {1, 0, 0, 1, 0, 0, 0, 0});
  UnionAttentionOperands ops{&x, &gate, &bias, &q, &q, &v, &v};
  HostTensor result = attend(ops, 1, 1);
  // Sequence 0 keeps position 0: its own value at compacted position 0.
  expectNear({result.data[0], result.data[1], result.data[2], result.data[3]},
             {logit(0.6), 1, 0, 0});
  // Sequence 1: normalised (0.5, 0.5625) keeps position 1.
  expectNear({result.data[4], result.data[5], result.data[6], result.data[7]},
             {0, 0, logit(0.9), 1});
}

// Tests union_attention errors.
TEST(UnionAttentionTest, Errors) {
  OneHead head;
  HostTensor x = f32({1, 2, 2}, {1, 0, 0, 1});
  HostTensor result;
  std::string error;
  EXPECT_FALSE(unionAttention(head.operands(x), 2, 1, 1e4, result, error));
  EXPECT_NE(error.find("top_k"), std::string::npos);
  EXPECT_FALSE(unionAttention(head.operands(x), 1, 3, 1e4, result, error));
  EXPECT_NE(error.find("capacity"), std::string::npos);
  EXPECT_FALSE(unionAttention(head.operands(x), 1, 1, -1, result, error));
  OneHead odd;
  odd.query = f32({1, 2, 1}, {1, 0});
  odd.key = odd.value = odd.query;
  odd.output = f32({1, 1, 2}, {1, 0});
  EXPECT_FALSE(unionAttention(odd.operands(x), 1, 1, 1e4, result, error));
  EXPECT_NE(error.find("even"), std::string::npos);
}

// Tests union_ffn by hand: D = 1, two experts of width 1 (F = 2), relu,
// default capacity floor(3/2) = 1. Router column e prefers token e.
TEST(UnionFFNTest, SlicesAndCapacityByHand) {
  HostTensor x = f32({1, 3, 1}, {1, -1, 0.5});
  HostTensor router = f32({1, 2}, {1, -1}); // p0 largest for x > 0
  HostTensor bias = f32({2}, {0, 0});
  HostTensor up = f32({1, 2}, {2, -3}), down = f32({2, 1}, {1, 10});
  UnionFFNOperands ops{&x, &router, &bias, nullptr, &up, &down};
  HostTensor result;
  std::string error;
  ASSERT_TRUE(unionFFN(ops, 2, std::nullopt, Activation::relu, result, error))
      << error;
  // Expert 0 keeps token 0 (p0 = sigmoid(2)): relu(2·1)·1 = 2. Expert 1
  // keeps token 1: relu(-3·-1)·10 = 30. Gate values do not scale.
  expectNear(result.data, {2, 30, 0});
  // Capacity 3: every token through both slices.
  ASSERT_TRUE(unionFFN(ops, 2, 3, Activation::relu, result, error));
  expectNear(result.data, {2, 30, 1});
  // Gated: gate slice e scales by act(gate·x).
  HostTensor gate = f32({1, 2}, {1, 1});
  ops.gateWeight = &gate;
  ASSERT_TRUE(unionFFN(ops, 2, 3, Activation::relu, result, error));
  // token 0: relu(1)·2·1 + relu(1)·(-3)·10 = -28; token 1: 0; token 2:
  // relu(.5)·1·1 + relu(.5)·(-1.5)·10 = 0.5 - 7.5.
  expectNear(result.data, {-28, 0, -7});
}

// Tests union_ffn errors.
TEST(UnionFFNTest, Errors) {
  HostTensor x = f32({1, 2, 1}, {1, 2});
  HostTensor router = f32({1, 2}, {1, 1}), bias = f32({2}, {0, 0});
  HostTensor up = f32({1, 3}, {1, 1, 1}), down = f32({3, 1}, {1, 1, 1});
  UnionFFNOperands ops{&x, &router, &bias, nullptr, &up, &down};
  HostTensor result;
  std::string error;
  EXPECT_FALSE(unionFFN(ops, 2, std::nullopt, Activation::relu, result, error));
  EXPECT_NE(error.find("divide"), std::string::npos);
  HostTensor up2 = f32({1, 2}, {1, 1}), down2 = f32({2, 1}, {1, 1});
  ops.upWeight = &up2;
  ops.downWeight = &down2;
  EXPECT_FALSE(unionFFN(ops, 2, 3, Activation::relu, result, error));
  EXPECT_NE(error.find("capacity"), std::string::npos);
}

} // namespace
