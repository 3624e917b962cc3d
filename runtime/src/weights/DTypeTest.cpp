//===- DTypeTest.cpp - Element types and conversions ---------------------===//

#include "DType.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace moert;

namespace {

double bitsToDouble(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}
uint32_t floatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
float floatFromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

struct Half {
  const char *name;
  uint16_t (*encode)(double);
  double (*decode)(uint16_t);
  uint16_t maxFinite; // largest finite positive
  uint16_t inf;
  int maxExponent; // the largest finite value is below 2^(maxExponent + 1)
};

const Half kBF16{"bf16", doubleToBF16Bits, bf16BitsToDouble, 0x7f7f, 0x7f80, 127};
const Half kF16{"f16", doubleToF16Bits, f16BitsToDouble, 0x7bff, 0x7c00, 15};

bool isNaNBits(const Half &h, uint16_t bits) {
  return (bits & h.inf) == h.inf && (bits & ~h.inf & 0x7fff) != 0;
}

} // namespace

// Tests that names, safetensors names and sizes round trip for every type.
TEST(WeightsDType, NamesAndSizes) {
  const size_t sizes[kNumDTypes] = {4, 2, 2, 4, 8, 8, 1, 1, 1};
  for (int i = 0; i < kNumDTypes; ++i) {
    DType dtype = kAllDTypes[i], parsed = DType::F64;
    EXPECT_EQ(int(dtype), i + 1); // bundle-format values
    EXPECT_TRUE(isValidDType(dtype));
    EXPECT_EQ(dtypeSize(dtype), sizes[i]);
    ASSERT_TRUE(parseDType(dtypeName(dtype), parsed)) << dtypeName(dtype);
    EXPECT_EQ(parsed, dtype);
    ASSERT_TRUE(parseSafetensorsDType(dtypeSafetensorsName(dtype), parsed));
    EXPECT_EQ(parsed, dtype);
  }
  DType out = DType::I8;
  EXPECT_TRUE(parseDType("i1", out));
  EXPECT_EQ(out, DType::Bool);
  out = DType::I8;
  EXPECT_FALSE(parseDType("F32", out));
  EXPECT_FALSE(parseDType("", out));
  EXPECT_FALSE(parseSafetensorsDType("f32", out));
  EXPECT_FALSE(parseSafetensorsDType("F8_E4M3", out));
  EXPECT_FALSE(parseSafetensorsDType("U16", out));
  EXPECT_EQ(out, DType::I8); // untouched on failure
  EXPECT_EQ(dtypeName(DType::BF16), "bf16");
  EXPECT_EQ(dtypeSafetensorsName(DType::Bool), "BOOL");
  EXPECT_FALSE(isValidDType(static_cast<DType>(0)));
  EXPECT_FALSE(isValidDType(static_cast<DType>(10)));
  EXPECT_EQ(dtypeSize(static_cast<DType>(200)), 4u); // treated as f32, no crash
  EXPECT_TRUE(isFloatDType(DType::BF16));
  EXPECT_FALSE(isFloatDType(DType::Bool));
}

// Tests known encodings, including ties to even and double rounding.
TEST(WeightsDType, KnownHalfEncodings) {
  EXPECT_EQ(doubleToBF16Bits(1.0), 0x3f80);
  EXPECT_EQ(doubleToBF16Bits(-2.0), 0xc000);
  EXPECT_EQ(doubleToBF16Bits(1.0 + 0x1p-8), 0x3f80);       // tie, even down
  EXPECT_EQ(doubleToBF16Bits(1.0 + 3 * 0x1p-8), 0x3f82);   // tie, even up
  EXPECT_EQ(doubleToBF16Bits(1.0 + 0x1p-8 + 0x1p-20), 0x3f81);
  // Rounding through float first would give the tie (0x3f80): 2^-40 is below
  // float precision.
  EXPECT_EQ(doubleToBF16Bits(1.0 + 0x1p-8 + 0x1p-40), 0x3f81);
  EXPECT_EQ(floatToBF16Bits(3.140625f), 0x4049);
  EXPECT_EQ(doubleToF16Bits(1.0), 0x3c00);
  EXPECT_EQ(doubleToF16Bits(65504.0), 0x7bff);
  EXPECT_EQ(doubleToF16Bits(65519.99), 0x7bff);
  EXPECT_EQ(doubleToF16Bits(65520.0), 0x7c00); // tie with 2^16 goes to inf
  EXPECT_EQ(doubleToF16Bits(1e300), 0x7c00);
  EXPECT_EQ(doubleToF16Bits(-1e300), 0xfc00);
  EXPECT_EQ(doubleToF16Bits(1.0 + 0x1p-11), 0x3c00);
  EXPECT_EQ(doubleToF16Bits(1.0 + 0x1p-11 + 0x1p-45), 0x3c01);
}

// Tests subnormal results and inputs.
TEST(WeightsDType, Subnormals) {
  EXPECT_EQ(doubleToF16Bits(0x1p-24), 0x0001);         // smallest subnormal
  EXPECT_EQ(doubleToF16Bits(0x1p-25), 0x0000);         // tie, to even (0)
  EXPECT_EQ(doubleToF16Bits(0x1p-25 * 1.0000001), 0x0001);
  EXPECT_EQ(doubleToF16Bits(3 * 0x1p-25), 0x0002);     // tie, 1.5 -> 2
  EXPECT_EQ(doubleToF16Bits(5 * 0x1p-25), 0x0002);     // tie, 2.5 -> 2
  EXPECT_EQ(doubleToF16Bits(-0x1p-26), 0x8000);        // -0
  EXPECT_EQ(doubleToF16Bits(0x1p-14 * (1 - 0x1p-12)), 0x0400); // up to normal
  EXPECT_EQ(doubleToF16Bits(1023 * 0x1p-24), 0x03ff);
  EXPECT_EQ(f16BitsToDouble(0x0001), 0x1p-24);
  EXPECT_EQ(f16BitsToDouble(0x03ff), 1023 * 0x1p-24);
  EXPECT_EQ(doubleToBF16Bits(0x1p-133), 0x0001);
  EXPECT_EQ(bf16BitsToDouble(0x0001), 0x1p-133);
  EXPECT_EQ(doubleToBF16Bits(0x1p-134), 0x0000);
  // Float and double subnormal inputs.
  EXPECT_EQ(floatToBF16Bits(floatFromBits(0x00010000)), 0x0001);
  EXPECT_EQ(floatToBF16Bits(floatFromBits(0x00008000)), 0x0000); // tie
  EXPECT_EQ(floatToBF16Bits(floatFromBits(0x00018000)), 0x0002); // tie up
  EXPECT_EQ(doubleToF16Bits(bitsToDouble(1)), 0x0000);
  EXPECT_EQ(doubleToBF16Bits(-bitsToDouble(1)), 0x8000);
}

// Tests infinities, NaNs and signed zeros.
TEST(WeightsDType, SpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Half &h : {kBF16, kF16}) {
    SCOPED_TRACE(h.name);
    EXPECT_EQ(h.encode(inf), h.inf);
    EXPECT_EQ(h.encode(-inf), h.inf | 0x8000);
    EXPECT_EQ(h.encode(0.0), 0);
    EXPECT_EQ(h.encode(-0.0), 0x8000);
    EXPECT_TRUE(isNaNBits(h, h.encode(nan)));
    EXPECT_TRUE(isNaNBits(h, h.encode(-nan)));
    EXPECT_EQ(h.encode(-nan) & 0x8000, 0x8000);
    EXPECT_TRUE(std::isinf(h.decode(h.inf)));
    EXPECT_TRUE(std::signbit(h.decode(0x8000)));
    EXPECT_EQ(h.decode(0x8000), 0.0);
    // A NaN whose payload is only in low double bits stays a NaN.
    EXPECT_TRUE(isNaNBits(h, h.encode(bitsToDouble(0x7ff0000000000001ull))));
  }
  // Payloads survive bf16 -> float -> bf16 and bf16 -> double -> bf16.
  EXPECT_EQ(floatBits(bf16BitsToFloat(0x7fc1)), 0x7fc10000u);
  EXPECT_EQ(floatToBF16Bits(bf16BitsToFloat(0xffc5)), 0xffc5);
  EXPECT_EQ(doubleToBF16Bits(bf16BitsToDouble(0x7fc3)), 0x7fc3);
  EXPECT_EQ(doubleToF16Bits(f16BitsToDouble(0x7e01)), 0x7e01);
  EXPECT_EQ(floatToF16Bits(f16BitsToFloat(0xfe07)), 0xfe07);
}

// Tests that every bf16 and f16 value decodes exactly and encodes back to the
// same bits, through double and through float.
TEST(WeightsDType, ExhaustiveRoundTrip) {
  for (const Half &h : {kBF16, kF16}) {
    SCOPED_TRACE(h.name);
    for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
      double value = h.decode(uint16_t(bits));
      uint16_t back = h.encode(value);
      if (isNaNBits(h, uint16_t(bits))) {
        ASSERT_TRUE(std::isnan(value)) << bits;
        ASSERT_TRUE(isNaNBits(h, back)) << bits;
        continue;
      }
      ASSERT_EQ(back, bits) << bits;
      const bool isBF16 = h.encode == kBF16.encode;
      float asFloat = isBF16 ? bf16BitsToFloat(uint16_t(bits))
                             : f16BitsToFloat(uint16_t(bits));
      ASSERT_EQ(double(asFloat), value) << bits;
      ASSERT_EQ(isBF16 ? floatToBF16Bits(asFloat) : floatToF16Bits(asFloat), bits);
    }
  }
}

// Tests rounding at every midpoint between neighbouring values (ties to even)
// and just either side of it, including the midpoint to infinity.
TEST(WeightsDType, ExhaustiveMidpoints) {
  for (const Half &h : {kBF16, kF16}) {
    SCOPED_TRACE(h.name);
    for (uint32_t k = 0; k <= h.maxFinite; ++k) {
      double a = h.decode(uint16_t(k));
      double b = k == h.maxFinite ? std::ldexp(1.0, h.maxExponent + 1)
                                  : h.decode(uint16_t(k + 1));
      uint16_t up = k == h.maxFinite ? h.inf : uint16_t(k + 1);
      double mid = a + (b - a) / 2; // exact: few significant bits
      ASSERT_EQ(h.encode(mid), (k & 1) ? up : k) << k;
      ASSERT_EQ(h.encode(std::nextafter(mid, 0.0)), k) << k;
      ASSERT_EQ(h.encode(std::nextafter(mid, 1e300)), up) << k;
      ASSERT_EQ(h.encode(-mid), ((k & 1) ? up : k) | 0x8000) << k;
    }
  }
}

// Tests float -> bf16 / f16 against independent references on a spread of
// float bit patterns: the classic bias trick for bf16, the compiler's
// _Float16 for f16 where it has one.
TEST(WeightsDType, FloatSweepAgainstReferences) {
  for (uint64_t b = 0; b <= 0xffffffffull; b += 65521) {
    uint32_t bits = uint32_t(b);
    float f = floatFromBits(bits);
    if (std::isnan(f))
      continue;
    uint16_t ref = uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
    ASSERT_EQ(floatToBF16Bits(f), ref) << std::hex << bits;
#ifdef __FLT16_MAX__
    _Float16 h = static_cast<_Float16>(f);
    uint16_t hb;
    std::memcpy(&hb, &h, 2);
    ASSERT_EQ(floatToF16Bits(f), hb) << std::hex << bits;
#endif
  }
}

// Tests float and double elements, and store's out-of-range report.
TEST(WeightsDType, FloatElements) {
  unsigned char buf[8];
  EXPECT_TRUE(storeElement(DType::F32, 0.1, buf));
  float f;
  std::memcpy(&f, buf, 4);
  EXPECT_EQ(f, 0.1f);
  EXPECT_EQ(loadElement(DType::F32, buf), double(0.1f));
  EXPECT_FALSE(storeElement(DType::F32, 1e300, buf)); // finite -> inf
  EXPECT_TRUE(std::isinf(loadElement(DType::F32, buf)));
  EXPECT_TRUE(storeElement(DType::F32, std::numeric_limits<double>::infinity(), buf));
  EXPECT_TRUE(storeElement(DType::F32, 0x1p-149, buf)); // float subnormal
  EXPECT_EQ(loadElement(DType::F32, buf), 0x1p-149);
  EXPECT_TRUE(storeElement(DType::F32, 0x1p-150, buf)); // tie -> 0
  EXPECT_EQ(loadElement(DType::F32, buf), 0.0);
  EXPECT_FALSE(storeElement(DType::F16, 70000.0, buf));
  EXPECT_TRUE(storeElement(DType::F64, 1e300, buf));
  EXPECT_EQ(loadElement(DType::F64, buf), 1e300);
  EXPECT_TRUE(storeElement(DType::BF16, 1.0 + 0x1p-8, buf));
  EXPECT_EQ(loadElement(DType::BF16, buf), 1.0);
}

// Tests integer elements: ties to even, saturation, NaN, bool.
TEST(WeightsDType, IntegerElements) {
  unsigned char buf[8];
  struct Case {
    DType dtype;
    double in;
    double out;
    bool inRange;
  } cases[] = {
      {DType::I32, 2.5, 2, true},      {DType::I32, 3.5, 4, true},
      {DType::I32, -2.5, -2, true},    {DType::I32, -0.4, 0, true},
      {DType::I32, 2.6, 3, true},      {DType::I8, 127.4, 127, true},
      {DType::I8, 127.5, 127, false},  {DType::I8, -129, -128, false},
      {DType::U8, -1, 0, false},       {DType::U8, 255, 255, true},
      {DType::I32, 3e9, 2147483647, false},
      {DType::I64, 0x1p62, 0x1p62, true},
      {DType::I64, 0x1p63, 0x1p63 - 1024 /* saturated; reads back rounded */, false},
      {DType::I64, -0x1p63, -0x1p63, true},
      {DType::I32, std::nan(""), 0, false},
      {DType::Bool, 0, 0, true},       {DType::Bool, 1, 1, true},
      {DType::Bool, -3, 1, false},     {DType::Bool, std::nan(""), 1, false},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(dtypeName(c.dtype)) + " " + std::to_string(c.in));
    EXPECT_EQ(storeElement(c.dtype, c.in, buf), c.inRange);
    if (c.dtype == DType::I64 && !c.inRange) {
      int64_t v;
      std::memcpy(&v, buf, 8);
      EXPECT_EQ(v, std::numeric_limits<int64_t>::max());
      continue;
    }
    EXPECT_EQ(loadElement(c.dtype, buf), c.out);
  }
  uint8_t notOne = 7;
  EXPECT_EQ(loadElement(DType::Bool, &notOne), 1.0);
  int64_t big = (int64_t(1) << 53) + 1;
  EXPECT_EQ(loadElement(DType::I64, &big), 0x1p53); // rounds to even
}

// Tests buffer conversions: one rounding from i64, saturation counts,
// unaligned buffers.
TEST(WeightsDType, ConvertElements) {
  // 2^62 + 2^38 + 1 -> f32: above the midpoint, so it rounds up. Rounding to
  // double first would lose the +1 and land on the tie (rounding down).
  std::vector<int64_t> in = {(int64_t(1) << 62) + (int64_t(1) << 38) + 1, -3, 0};
  std::vector<float> out(3);
  EXPECT_EQ(convertElements(DType::I64, in.data(), DType::F32, out.data(), 3), 0u);
  EXPECT_EQ(double(out[0]), 0x1p62 + 0x1p39);
  EXPECT_EQ(out[1], -3.0f);

  std::vector<int32_t> wide = {1, -200, 300, 127};
  std::vector<int8_t> narrow(4);
  EXPECT_EQ(convertElements(DType::I32, wide.data(), DType::I8, narrow.data(), 4), 2u);
  EXPECT_EQ(narrow, (std::vector<int8_t>{1, -128, 127, 127}));

  std::vector<float> floats = {1.0f, 70000.0f, -1e-9f,
                               std::numeric_limits<float>::infinity()};
  std::vector<uint16_t> halves(4);
  EXPECT_EQ(convertElements(DType::F32, floats.data(), DType::F16, halves.data(), 4), 1u);
  EXPECT_EQ(halves[0], 0x3c00);
  EXPECT_EQ(halves[1], 0x7c00);
  EXPECT_EQ(halves[3], 0x7c00);

  std::vector<int32_t> big = {70000};
  EXPECT_EQ(convertElements(DType::I32, big.data(), DType::F16, halves.data(), 1), 1u);

  // Unaligned source and destination.
  unsigned char src[1 + 3 * 2], dst[1 + 3 * 4];
  uint16_t bf[3] = {0x3f80, 0xc040, 0x0001};
  std::memcpy(src + 1, bf, sizeof(bf));
  EXPECT_EQ(convertElements(DType::BF16, src + 1, DType::F32, dst + 1, 3), 0u);
  float back[3];
  std::memcpy(back, dst + 1, sizeof(back));
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], -3.0f);
  EXPECT_EQ(double(back[2]), 0x1p-133);

  std::vector<uint8_t> bools = {0, 1, 2};
  std::vector<int32_t> ints(3);
  EXPECT_EQ(convertElements(DType::Bool, bools.data(), DType::I32, ints.data(), 3), 0u);
  EXPECT_EQ(ints, (std::vector<int32_t>{0, 1, 1}));
  EXPECT_EQ(convertElements(DType::F32, nullptr, DType::F16, nullptr, 0), 0u);
}
