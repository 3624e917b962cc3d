//===- WeightBinderTest.cpp - Binding inputs to checkpoint tensors -------===//

#include "WeightBinder.h"
#include "WeightsTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

using namespace moert;
using namespace moert::testing;

namespace {

class WeightsBinder : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_TRUE(dir.ok()); }

  /// Writes and opens a file; keeps it open for the test.
  const SafetensorsFile *makeFile(const std::string &name,
                                  const std::vector<SafetensorsTensorRef> &tensors) {
    std::string path = dir.file(name), error;
    EXPECT_TRUE(writeSafetensors(path, tensors, {}, error)) << error;
    auto file = SafetensorsFile::open(path, error);
    EXPECT_NE(file, nullptr) << error;
    files.push_back(std::move(file));
    return files.back().get();
  }

  static void expectContains(const std::string &error,
                             std::initializer_list<std::string> needles) {
    for (const std::string &needle : needles)
      EXPECT_NE(error.find(needle), std::string::npos)
          << "expected '" << needle << "' in: " << error;
  }

  TempDir dir;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
};

} // namespace

// Tests a plain name, same dtype and shape.
TEST_F(WeightsBinder, Plain) {
  std::vector<float> gate = {1, 2, 3, 4, 5, 6};
  auto *f = makeFile("a.safetensors", {{"gate.weight", DType::F32, {2, 3}, gate.data()}});
  WeightBinder binder({f});
  std::vector<float> out(6);
  std::string error;
  ASSERT_TRUE(binder.bind("gate.weight", DType::F32, {2, 3}, out.data(), 24, error))
      << error;
  EXPECT_EQ(out, gate);
}

// Tests stacking per-expert tensors spread over two shards.
TEST_F(WeightsBinder, StacksExperts) {
  std::vector<float> e0 = {0, 1}, e1 = {10, 11}, e2 = {20, 21};
  auto *a = makeFile("shard1.safetensors",
                     {{"experts.0.w1", DType::F32, {2}, e0.data()},
                      {"experts.2.w1", DType::F32, {2}, e2.data()}});
  auto *b = makeFile("shard2.safetensors", {{"experts.1.w1", DType::F32, {2}, e1.data()}});
  WeightBinder binder({a, b});
  std::vector<float> out(6);
  std::string error;
  ASSERT_TRUE(binder.bind("experts.{expert}.w1", DType::F32, {3, 2}, out.data(), 24, error))
      << error;
  EXPECT_EQ(out, (std::vector<float>{0, 1, 10, 11, 20, 21}));

  // An expert-parallel rank holding experts 1 and 2.
  std::vector<float> shard(4);
  BindOptions options;
  options.firstExpert = 1;
  ASSERT_TRUE(binder.bind("experts.{expert}.w1", DType::F32, {2, 2}, shard.data(), 16,
                          error, options))
      << error;
  EXPECT_EQ(shard, (std::vector<float>{10, 11, 20, 21}));
}

// Tests the message for a missing expert.
TEST_F(WeightsBinder, MissingExpert) {
  std::vector<float> e = {1, 2};
  auto *a = makeFile("a.safetensors", {{"experts.0.w", DType::F32, {2}, e.data()},
                                       {"experts.1.w", DType::F32, {2}, e.data()}});
  WeightBinder binder({a});
  std::vector<float> out(8);
  std::string error;
  EXPECT_FALSE(binder.bind("experts.{expert}.w", DType::F32, {4, 2}, out.data(), 32, error));
  expectContains(error, {"input 'experts.{expert}.w'", "expert 2 of 4",
                         "tensor 'experts.2.w' not found in", a->path()});
}

// Tests converting a bf16 checkpoint into f32 (exact) and f32 into bf16
// (rounded to nearest even).
TEST_F(WeightsBinder, ConvertsDTypes) {
  std::vector<uint16_t> bf = {0x3f80, 0xc040, 0x0001, 0x7f80};
  std::vector<float> fl = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -0.0f};
  auto *a = makeFile("a.safetensors", {{"bf", DType::BF16, {4}, bf.data()},
                                       {"fl", DType::F32, {4}, fl.data()}});
  WeightBinder binder({a});
  std::string error;
  std::vector<float> wide(4);
  ASSERT_TRUE(binder.bind("bf", DType::F32, {4}, wide.data(), 16, error)) << error;
  EXPECT_EQ(wide[0], 1.0f);
  EXPECT_EQ(wide[1], -3.0f);
  EXPECT_EQ(double(wide[2]), 0x1p-133);
  EXPECT_TRUE(std::isinf(wide[3]));
  std::vector<uint16_t> narrow(4);
  ASSERT_TRUE(binder.bind("fl", DType::BF16, {4}, narrow.data(), 8, error)) << error;
  EXPECT_EQ(narrow, (std::vector<uint16_t>{0x3f80, 0x3f80, 0x3f82, 0x8000}));
}

// Tests conversion errors: float/integer mismatch, values out of range.
TEST_F(WeightsBinder, ConversionErrors) {
  std::vector<float> fl = {1, 70000};
  std::vector<int64_t> big = {1, 300};
  auto *a = makeFile("a.safetensors", {{"fl", DType::F32, {2}, fl.data()},
                                       {"big", DType::I64, {2}, big.data()}});
  WeightBinder binder({a});
  std::string error;
  std::vector<unsigned char> out(16);
  EXPECT_FALSE(binder.bind("fl", DType::I32, {2}, out.data(), 8, error));
  expectContains(error, {"input 'fl'", "has dtype f32, expected i32", a->path()});
  EXPECT_FALSE(binder.bind("fl", DType::F16, {2}, out.data(), 4, error));
  expectContains(error, {"1 of 2 values", "out of the range of the input dtype f16"});
  EXPECT_FALSE(binder.bind("big", DType::I8, {2}, out.data(), 2, error));
  expectContains(error, {"input 'big'", "1 of 2 values"});
  ASSERT_TRUE(binder.bind("big", DType::I32, {2}, out.data(), 8, error)) << error;
  int32_t v[2];
  std::memcpy(v, out.data(), 8);
  EXPECT_EQ(v[1], 300);
}

// Tests that shapes may differ by size-1 dimensions only.
TEST_F(WeightsBinder, SqueezesUnitDims) {
  std::vector<float> row = {1, 2, 3, 4};
  auto *a = makeFile("a.safetensors", {{"norm", DType::F32, {1, 4}, row.data()},
                                       {"flat", DType::F32, {4}, row.data()}});
  WeightBinder binder({a});
  std::string error;
  std::vector<float> out(4);
  ASSERT_TRUE(binder.bind("norm", DType::F32, {4}, out.data(), 16, error)) << error;
  EXPECT_EQ(out, row);
  ASSERT_TRUE(binder.bind("flat", DType::F32, {1, 4, 1}, out.data(), 16, error)) << error;
  EXPECT_EQ(out, row);
  EXPECT_FALSE(binder.bind("norm", DType::F32, {2, 2}, out.data(), 16, error));
  expectContains(error, {"input 'norm'", "tensor 'norm' in " + a->path(),
                         "has shape [1, 4], expected [2, 2]"});
  std::vector<float> more(8);
  EXPECT_FALSE(binder.bind("flat", DType::F32, {8}, more.data(), 32, error));
  expectContains(error, {"has shape [4], expected [8]"});
  // Per-expert shapes too: [1, 2] tensors stack into [E, 2].
  std::vector<float> e = {5, 6};
  auto *b = makeFile("b.safetensors", {{"x.0", DType::F32, {1, 2}, e.data()},
                                       {"x.1", DType::F32, {2, 1}, e.data()}});
  WeightBinder experts({b});
  ASSERT_TRUE(experts.bind("x.{expert}", DType::F32, {2, 2}, out.data(), 16, error))
      << error;
  EXPECT_EQ(out, (std::vector<float>{5, 6, 5, 6}));
}

// Tests that a name found in two files is ambiguous, and a missing name lists
// the files searched.
TEST_F(WeightsBinder, AmbiguousAndMissing) {
  float x = 1;
  auto *a = makeFile("a.safetensors", {{"w", DType::F32, {1}, &x}});
  auto *b = makeFile("b.safetensors", {{"w", DType::F32, {1}, &x}});
  WeightBinder binder({a, b});
  std::string error;
  float out;
  EXPECT_FALSE(binder.bind("w", DType::F32, {1}, &out, 4, error));
  expectContains(error, {"input 'w'", "in both " + a->path() + " and " + b->path(),
                         "ambiguous"});
  EXPECT_FALSE(binder.bind("v", DType::F32, {1}, &out, 4, error));
  expectContains(error, {"input 'v': tensor 'v' not found in any of " + a->path() +
                         ", " + b->path()});
  WeightBinder none({});
  EXPECT_FALSE(none.bind("w", DType::F32, {1}, &out, 4, error));
  expectContains(error, {"no weight files given"});

  const SafetensorsFile *file;
  const SafetensorsTensor *tensor;
  WeightBinder onlyB({b});
  ASSERT_TRUE(onlyB.locate("w", file, tensor, error)) << error;
  EXPECT_EQ(file, b);
  EXPECT_EQ(tensor->name, "w");
}

// Tests argument errors: buffer size, bad shapes, a scalar expert input.
TEST_F(WeightsBinder, ArgumentErrors) {
  float x[2] = {1, 2};
  auto *a = makeFile("a.safetensors", {{"w", DType::F32, {2}, x}});
  WeightBinder binder({a});
  std::string error;
  float out[2];
  EXPECT_FALSE(binder.bind("w", DType::F32, {2}, out, 4, error));
  expectContains(error, {"input 'w': buffer of 4 bytes, but [2] of f32 needs 8"});
  EXPECT_FALSE(binder.bind("w", DType::F32, {-2}, out, 8, error));
  expectContains(error, {"invalid shape [-2]"});
  EXPECT_FALSE(binder.bind("w.{expert}", DType::F32, {}, out, 4, error));
  expectContains(error, {"is a scalar"});
  BindOptions options;
  options.firstExpert = -1;
  EXPECT_FALSE(binder.bind("w.{expert}", DType::F32, {2}, out, 8, error, options));
  expectContains(error, {"invalid first expert -1"});
  // Zero experts bind trivially.
  EXPECT_TRUE(binder.bind("w.{expert}", DType::F32, {0, 2}, nullptr, 0, error)) << error;
}

// Tests placeholder expansion.
TEST(WeightsBinderNames, ExpandExpertName) {
  EXPECT_TRUE(hasExpertPlaceholder("a.{expert}.b"));
  EXPECT_FALSE(hasExpertPlaceholder("a.{experts}.b"));
  EXPECT_EQ(expandExpertName("a.{expert}.b", 12), "a.12.b");
  EXPECT_EQ(expandExpertName("{expert}/{expert}", 3), "3/3");
  EXPECT_EQ(expandExpertName("plain", 3), "plain");
  EXPECT_EQ(shapeToString({}), "[]");
  EXPECT_EQ(shapeToString({8, 128}), "[8, 128]");
}
