//===- DispatchCombineTest.cpp - moe.dispatch / moe.combine references ----===//

#include "Reference.h"
#include "TestTensors.h"

using namespace moert::reference;
using namespace moert::reference::testing;

namespace {

struct Dispatched {
  HostTensor rows, offsets, sources;
};

Dispatched runDispatch(const HostTensor &tokens, const HostTensor &indices,
                       int64_t numExperts,
                       std::optional<CapacityMode> capacity = std::nullopt,
                       const HostTensor *weights = nullptr) {
  Dispatched out;
  std::string error;
  EXPECT_TRUE(dispatch(tokens, indices, weights, numExperts, capacity,
                       out.rows, out.offsets, out.sources, error))
      << error;
  return out;
}

// Three tokens x_t = (t+1, -(t+1)), two slots each.
const HostTensor kTokens = f32({3, 2}, {1, -1, 2, -2, 3, -3});
const HostTensor kIndices = i32({3, 2}, {0, 2, /**/ 2, 0, /**/ 1, 2});

// Tests dropless dispatch: rows grouped by expert, ascending (token, slot)
// within an expert, sources = t*K + k.
TEST(DispatchTest, DroplessOrder) {
  Dispatched out = runDispatch(kTokens, kIndices, 3);
  EXPECT_EQ(out.offsets.data, (std::vector<double>{0, 2, 3, 6}));
  EXPECT_EQ(out.sources.data, (std::vector<double>{0, 3, 4, 1, 2, 5}));
  EXPECT_EQ(out.rows.data,
            (std::vector<double>{1, -1, 2, -2, 3, -3, 1, -1, 2, -2, 3, -3}));
  EXPECT_EQ(out.rows.shape, (std::vector<int64_t>{6, 2}));
}

// Tests that slots naming no routed expert (null experts, >= E, or < 0) are
// not dispatched; the rows past offsets[E] are 0 with source -1.
TEST(DispatchTest, NullSlotsAreNotDispatched) {
  HostTensor indices = i32({3, 2}, {0, 3, /**/ 4, 0, /**/ -1, 1});
  Dispatched out = runDispatch(kTokens, indices, 3);
  EXPECT_EQ(out.offsets.data, (std::vector<double>{0, 2, 3, 3}));
  EXPECT_EQ(out.sources.data, (std::vector<double>{0, 3, 5, -1, -1, -1}));
  EXPECT_EQ(out.rows.data,
            (std::vector<double>{1, -1, 2, -2, 3, -3, 0, 0, 0, 0, 0, 0}));
}

// Tests all tokens to one expert: the other experts have empty ranges.
TEST(DispatchTest, AllTokensToOneExpert) {
  HostTensor indices = i32({3, 1}, {2, 2, 2});
  Dispatched out = runDispatch(kTokens, indices, 4);
  EXPECT_EQ(out.offsets.data, (std::vector<double>{0, 0, 0, 3, 3}));
  EXPECT_EQ(out.sources.data, (std::vector<double>{0, 1, 2}));
}

// Tests capacity mode, policy position: R = min(T*K, E*C) and each expert
// keeps its first C slots in (token, slot) order.
TEST(DispatchTest, CapacityPosition) {
  Dispatched out = runDispatch(kTokens, kIndices, 3,
                               CapacityMode{1, DropPolicy::position});
  EXPECT_EQ(out.rows.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(out.offsets.data, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(out.sources.data, (std::vector<double>{0, 4, 1}));
  out = runDispatch(kTokens, kIndices, 3,
                    CapacityMode{2, DropPolicy::position});
  EXPECT_EQ(out.rows.shape, (std::vector<int64_t>{6, 2}));
  EXPECT_EQ(out.offsets.data, (std::vector<double>{0, 2, 3, 5}));
  EXPECT_EQ(out.sources.data, (std::vector<double>{0, 3, 4, 1, 2, -1}));
}

// Tests policy score: the largest weights are kept, ties to the lower
// (token, slot), and the kept rows stay in (token, slot) order.
TEST(DispatchTest, CapacityScore) {
  // Expert 2 gets slots 1 (0.3), 2 (0.9), 5 (0.9); expert 0 slots 0 (0.2)
  // and 3 (0.8).
  HostTensor weights = f32({3, 2}, {0.2, 0.3, 0.9, 0.8, 1.0, 0.9});
  Dispatched out = runDispatch(kTokens, kIndices, 3,
                               CapacityMode{1, DropPolicy::score}, &weights);
  EXPECT_EQ(out.sources.data, (std::vector<double>{3, 4, 2}));
  out = runDispatch(kTokens, kIndices, 3, CapacityMode{2, DropPolicy::score},
                    &weights);
  EXPECT_EQ(out.offsets.data, (std::vector<double>{0, 2, 3, 5}));
  EXPECT_EQ(out.sources.data, (std::vector<double>{0, 3, 4, 2, 5, -1}));
}

// Tests a capacity that caps nothing behaves as dropless.
TEST(DispatchTest, LargeCapacityIsDropless) {
  Dispatched dropless = runDispatch(kTokens, kIndices, 3);
  Dispatched capped = runDispatch(kTokens, kIndices, 3,
                                  CapacityMode{100, DropPolicy::position});
  EXPECT_EQ(capped.rows.data, dropless.rows.data);
  EXPECT_EQ(capped.sources.data, dropless.sources.data);
}

// Tests dispatch errors.
TEST(DispatchTest, Errors) {
  HostTensor rows, offsets, sources;
  std::string error;
  HostTensor weights = f32({3, 2}, std::vector<double>(6, 1.0));
  EXPECT_FALSE(dispatch(kTokens, kIndices, nullptr, 3,
                        CapacityMode{1, DropPolicy::score}, rows, offsets,
                        sources, error));
  EXPECT_NE(error.find("score"), std::string::npos);
  EXPECT_FALSE(dispatch(kTokens, kIndices, &weights, 3, std::nullopt, rows,
                        offsets, sources, error));
  EXPECT_FALSE(dispatch(kTokens, i32({2, 2}, {0, 0, 0, 0}), nullptr, 3,
                        std::nullopt, rows, offsets, sources, error));
  EXPECT_NE(error.find("tokens"), std::string::npos);
  EXPECT_FALSE(dispatch(kTokens, i32({3, 2}, {0, 0.5, 0, 0, 0, 0}), nullptr,
                        3, std::nullopt, rows, offsets, sources, error));
  EXPECT_NE(error.find("non-integer"), std::string::npos);
  EXPECT_FALSE(dispatch(kTokens, kIndices, nullptr, 0, std::nullopt, rows,
                        offsets, sources, error));
  EXPECT_FALSE(dispatch(kTokens, kIndices, nullptr, 3,
                        CapacityMode{0, DropPolicy::position}, rows, offsets,
                        sources, error));
}

// Tests combine by hand: each token sums weight * its rows.
TEST(CombineTest, WeightedScatterAdd) {
  Dispatched d = runDispatch(kTokens, kIndices, 3);
  HostTensor weights = f32({3, 2}, {0.5, 0.25, 1, 2, 3, 4});
  HostTensor result;
  std::string error;
  ASSERT_TRUE(combine(d.rows, d.sources, weights, result, error)) << error;
  // Every copy of token t is x_t, so result[t] = (w_t0 + w_t1) x_t.
  expectNear(result.data, {0.75, -0.75, 6, -6, 21, -21});
}

// Tests combine rejects a source outside [0, T*K) and ignores negative ones.
TEST(CombineTest, SourcesOutOfRange) {
  HostTensor outputs = f32({2, 1}, {1, 2});
  HostTensor weights = f32({1, 2}, {1, 1});
  HostTensor result;
  std::string error;
  ASSERT_TRUE(combine(outputs, i32({2}, {-1, 1}), weights, result, error));
  expectNear(result.data, {2});
  EXPECT_FALSE(combine(outputs, i32({2}, {0, 2}), weights, result, error));
  EXPECT_NE(error.find("slot"), std::string::npos);
}

// Property: with unit weights, combine(dispatch(x)) is x times the number of
// kept copies of each token, for random routings, with and without drops.
TEST(DispatchCombineProperty, UnitWeightsCountKeptCopies) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    int64_t tokens = 1 + rng() % 9, topK = 1 + rng() % 3,
            experts = 1 + rng() % 5, hidden = 1 + rng() % 4;
    HostTensor x = randomF32({tokens, hidden}, rng);
    HostTensor indices = zeroTensor("i64", {tokens, topK});
    for (double &index : indices.data)
      index = static_cast<double>(rng() % (experts + 2)); // some null slots
    HostTensor weights = randomF32({tokens, topK}, rng);
    std::optional<CapacityMode> capacity;
    if (trial % 3)
      capacity = CapacityMode{1 + static_cast<int64_t>(rng() % 3),
                              trial % 2 ? DropPolicy::score
                                        : DropPolicy::position};
    bool byScore = capacity && capacity->policy == DropPolicy::score;
    Dispatched d = runDispatch(x, indices, experts, capacity,
                               byScore ? &weights : nullptr);
    HostTensor ones = zeroTensor("f32", {tokens, topK});
    std::fill(ones.data.begin(), ones.data.end(), 1.0);
    HostTensor result;
    std::string error;
    ASSERT_TRUE(combine(d.rows, d.sources, ones, result, error)) << error;
    std::vector<int> copies(static_cast<size_t>(tokens), 0);
    for (double source : d.sources.data)
      if (source >= 0)
        ++copies[static_cast<size_t>(source) / topK];
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < hidden; ++h)
        EXPECT_NEAR(result.data[t * hidden + h],
                    copies[t] * x.data[t * hidden + h], 1e-12);
    // Kept counts never exceed the capacity, and no slot is kept twice.
    for (int64_t e = 0; capacity && e < experts; ++e)
      EXPECT_LE(d.offsets.data[e + 1] - d.offsets.data[e],
                static_cast<double>(capacity->capacity));
  }
}

} // namespace
