//===- RandomTest.cpp - Seeded random tensors ----------------------------===//

#include "Random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <vector>

using namespace moert;

namespace {
std::vector<unsigned char> generate(uint64_t seed, const std::string &name,
                                    DType dtype, size_t count, double low,
                                    double high) {
  std::vector<unsigned char> out(count * dtypeSize(dtype));
  std::string error;
  EXPECT_TRUE(fillRandom(seed, name, dtype, count, low, high, out.data(), error))
      << error;
  return out;
}
} // namespace

// Tests that (seed, name) determines the bytes, and that changing either
// changes them.
TEST(WeightsRandom, Deterministic) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(dtypeName(dtype));
    double high = dtype == DType::Bool ? 1 : 100;
    auto a = generate(42, "layer.0.w", dtype, 1000, 0, high);
    EXPECT_EQ(a, generate(42, "layer.0.w", dtype, 1000, 0, high));
    EXPECT_NE(a, generate(42, "layer.1.w", dtype, 1000, 0, high));
    EXPECT_NE(a, generate(43, "layer.0.w", dtype, 1000, 0, high));
  }
}

// Tests the stream against pinned values, so a change of algorithm (or a
// platform difference) is noticed. Element i is a pure function of
// (seed, name, i): see Random.h.
TEST(WeightsRandom, PinnedValues) {
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  std::vector<double> values(4);
  std::string error;
  ASSERT_TRUE(fillRandom(1234, "w", DType::F64, 4, -1, 1, values.data(), error));
  // Recomputed here from the documented definition.
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  uint64_t key = mix(1234) ^ fnv1a64("w");
  for (uint64_t i = 0; i < 4; ++i) {
    double u = double(mix(key + (i + 1) * 0x9e3779b97f4a7c15ull) >> 11) * 0x1p-53;
    double width = 2.0, scaled = width * u;
    EXPECT_EQ(values[i], -1.0 + scaled) << i;
  }
}

// Tests that values lie in [low, high], are representable in the dtype, and
// that integer ranges are inclusive with both ends reached.
TEST(WeightsRandom, Ranges) {
  std::vector<uint16_t> bf(10000);
  std::string error;
  ASSERT_TRUE(fillRandom(7, "bf", DType::BF16, bf.size(), -0.5, 0.25, bf.data(), error));
  double sum = 0;
  for (uint16_t bits : bf) {
    double v = bf16BitsToDouble(bits);
    ASSERT_GE(v, -0.5);
    ASSERT_LE(v, 0.25);
    sum += v;
  }
  EXPECT_NEAR(sum / bf.size(), -0.125, 0.01);

  std::vector<int8_t> ints(10000);
  ASSERT_TRUE(fillRandom(7, "i", DType::I8, ints.size(), -2.5, 3, ints.data(), error));
  std::set<int> seen(ints.begin(), ints.end());
  EXPECT_EQ(seen, (std::set<int>{-2, -1, 0, 1, 2, 3}));

  // Clamped to the type: u8 from [-10, 1000] gives all of 0..255.
  std::vector<uint8_t> bytes(100000);
  ASSERT_TRUE(fillRandom(7, "u", DType::U8, bytes.size(), -10, 1000, bytes.data(), error));
  EXPECT_EQ(std::set<int>(bytes.begin(), bytes.end()).size(), 256u);

  std::vector<uint8_t> bools(1000);
  ASSERT_TRUE(fillRandom(7, "b", DType::Bool, bools.size(), -5, 5, bools.data(), error));
  EXPECT_EQ(std::set<int>(bools.begin(), bools.end()), (std::set<int>{0, 1}));

  std::vector<int64_t> wide(1000);
  ASSERT_TRUE(fillRandom(7, "w", DType::I64, wide.size(), -1e30, 1e30, wide.data(), error));
  EXPECT_EQ(std::set<int64_t>(wide.begin(), wide.end()).size(), 1000u);

  std::vector<float> point(10);
  ASSERT_TRUE(fillRandom(7, "p", DType::F32, point.size(), 2, 2, point.data(), error));
  for (float v : point)
    EXPECT_EQ(v, 2.0f);
}

// Tests that a range of elements equals the same slice of the whole tensor.
TEST(WeightsRandom, RangeMatchesSlice) {
  auto whole = generate(9, "experts.w1", DType::F16, 100, -1, 1);
  std::vector<unsigned char> part(30 * 2);
  std::string error;
  ASSERT_TRUE(fillRandomRange(9, "experts.w1", DType::F16, 40, 30, -1, 1,
                              part.data(), error));
  EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + 80));
}

// Tests argument errors.
TEST(WeightsRandom, Errors) {
  float out[4] = {7, 7, 7, 7};
  std::string error;
  EXPECT_FALSE(fillRandom(1, "t", DType::F32, 4, 1, 0, out, error));
  EXPECT_NE(error.find("random tensor 't' (f32): bad range"), std::string::npos) << error;
  EXPECT_FALSE(fillRandom(1, "t", DType::F32, 4, 0, NAN, out, error));
  EXPECT_FALSE(fillRandom(1, "t", DType::F32, 4, -INFINITY, 0, out, error));
  EXPECT_FALSE(fillRandom(1, "t", DType::F16, 2, 0, 1e6, out, error));
  EXPECT_NE(error.find("beyond what the type holds"), std::string::npos) << error;
  EXPECT_FALSE(fillRandom(1, "t", DType::F64, 1, -1e308, 1e308, out, error));
  EXPECT_FALSE(fillRandom(1, "t", DType::I32, 4, 0.2, 0.8, out, error));
  EXPECT_NE(error.find("no value of the type"), std::string::npos) << error;
  EXPECT_FALSE(fillRandom(1, "t", DType::U8, 4, -9, -1, out, error));
  EXPECT_FALSE(fillRandom(1, "t", DType::F32, 4, 0, 1, nullptr, error));
  EXPECT_EQ(out[0], 7.0f); // untouched
  EXPECT_TRUE(fillRandom(1, "t", DType::F32, 0, 0, 1, nullptr, error));
}
