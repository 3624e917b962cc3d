//===- DType.cpp - Runtime element types and exact conversions ------------===//

#include "DType.h"

#include <cmath>
#include <cstring>
#include <limits>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&             \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the MoE-MLIR runtime reads little-endian element bytes in place"
#endif

namespace moert {

namespace {
struct DTypeInfo {
  std::string_view name;
  std::string_view safetensorsName;
  size_t size;
  bool isFloat;
};
} // namespace

/// Indexed by enumerator value - 1.
static const DTypeInfo kDTypeInfo[kNumDTypes] = {
    {"f32", "F32", 4, true},   {"f16", "F16", 2, true},
    {"bf16", "BF16", 2, true}, {"i32", "I32", 4, false},
    {"i64", "I64", 8, false},  {"f64", "F64", 8, true},
    {"i8", "I8", 1, false},    {"u8", "U8", 1, false},
    {"bool", "BOOL", 1, false},
};

static const DTypeInfo &info(DType dtype) {
  // An invalid enumerator can only come from a cast in the caller; map it to
  // f32 rather than reading out of bounds.
  return kDTypeInfo[isValidDType(dtype) ? uint8_t(dtype) - 1 : 0];
}

size_t dtypeSize(DType dtype) { return info(dtype).size; }
std::string_view dtypeName(DType dtype) { return info(dtype).name; }
std::string_view dtypeSafetensorsName(DType dtype) {
  return info(dtype).safetensorsName;
}
bool isFloatDType(DType dtype) { return info(dtype).isFloat; }

bool parseDType(std::string_view name, DType &out) {
  if (name == "i1") {
    out = DType::Bool;
    return true;
  }
  for (DType dtype : kAllDTypes) {
    if (info(dtype).name == name) {
      out = dtype;
      return true;
    }
  }
  return false;
}

bool parseSafetensorsDType(std::string_view name, DType &out) {
  for (DType dtype : kAllDTypes) {
    if (info(dtype).safetensorsName == name) {
      out = dtype;
      return true;
    }
  }
  return false;
}

//===----------------------------------------------------------------------===//
// Binary floating-point formats, bit by bit
//===----------------------------------------------------------------------===//

namespace {
/// An IEEE binary format: `expBits` exponent bits, `mantBits` stored
/// significand bits, one sign bit.
struct FloatFormat {
  int expBits;
  int mantBits;
};
} // namespace

static constexpr FloatFormat kF64{11, 52};
static constexpr FloatFormat kF32{8, 23};
static constexpr FloatFormat kBF16{8, 7};
static constexpr FloatFormat kF16{5, 10};

static int countLeadingZeros64(uint64_t x) {
  // x != 0 at every call site.
  int n = 0;
  while (!(x & (uint64_t(1) << 63))) {
    x <<= 1;
    ++n;
  }
  return n;
}

/// Rounds the nonzero finite value  (-1)^negative * 2^exponent * sig / 2^63
/// (the leading bit of `sig` is bit 63) to `format`, to nearest, ties to even.
/// Sets `overflow` when the result is an infinity.
static uint64_t roundToFormat(bool negative, int exponent, uint64_t sig,
                              FloatFormat format, bool &overflow) {
  const int bias = (1 << (format.expBits - 1)) - 1;
  const uint64_t expMax = (uint64_t(1) << format.expBits) - 1;
  const uint64_t signBit = uint64_t(negative) << (format.expBits + format.mantBits);
  int biased = exponent + bias;
  int shift = 63 - format.mantBits; // keep mantBits + 1 bits
  if (biased < 1) {                 // subnormal (or zero) result
    shift += 1 - biased;
    biased = 0;
  }
  uint64_t kept;
  if (shift > 64) {
    kept = 0; // below half the smallest subnormal
  } else if (shift == 64) {
    // Half the smallest subnormal is 2^63 here: a tie rounds to even (0).
    kept = sig > (uint64_t(1) << 63) ? 1 : 0;
  } else {
    kept = sig >> shift;
    uint64_t rem = sig & ((uint64_t(1) << shift) - 1);
    uint64_t half = uint64_t(1) << (shift - 1);
    if (rem > half || (rem == half && (kept & 1)))
      ++kept;
  }
  overflow = false;
  if (biased == 0) // kept <= 2^mantBits; 2^mantBits encodes the smallest normal
    return signBit | kept;
  if (kept >> (format.mantBits + 1)) { // rounding carried into a new bit
    kept >>= 1;
    ++biased;
  }
  if (uint64_t(biased) >= expMax) {
    overflow = true;
    return signBit | (expMax << format.mantBits);
  }
  uint64_t mantMask = (uint64_t(1) << format.mantBits) - 1;
  return signBit | (uint64_t(biased) << format.mantBits) | (kept & mantMask);
}

/// `value` in `format`, rounded to nearest even; sets `overflow` when a finite
/// value became an infinity.
static uint64_t doubleToFormat(double value, FloatFormat format, bool &overflow) {
  overflow = false;
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bool negative = bits >> 63;
  int exp = int((bits >> 52) & 0x7ff);
  uint64_t mant = bits & ((uint64_t(1) << 52) - 1);
  const uint64_t expMax = (uint64_t(1) << format.expBits) - 1;
  const uint64_t signBit = uint64_t(negative) << (format.expBits + format.mantBits);
  if (exp == 0x7ff) {
    if (mant == 0)
      return signBit | (expMax << format.mantBits); // +-inf
    // NaN: keep the top payload bits and make it quiet (never an infinity).
    uint64_t payload = mant >> (52 - format.mantBits);
    payload |= uint64_t(1) << (format.mantBits - 1);
    return signBit | (expMax << format.mantBits) | payload;
  }
  if (exp == 0 && mant == 0)
    return signBit; // +-0
  if (exp == 0) {   // double subnormal: mant * 2^-1074
    int lz = countLeadingZeros64(mant);
    return roundToFormat(negative, (63 - lz) - 1074, mant << lz, format,
                         overflow);
  }
  uint64_t sig = (mant | (uint64_t(1) << 52)) << 11;
  return roundToFormat(negative, exp - 1023, sig, format, overflow);
}

/// `value` in `format`, rounded once, to nearest even.
/// Sets `overflow` when the result is an infinity (f16 beyond 65504).
static uint64_t int64ToFormat(int64_t value, FloatFormat format, bool &overflow) {
  overflow = false;
  if (value == 0)
    return 0;
  bool negative = value < 0;
  uint64_t magnitude = negative ? uint64_t(0) - uint64_t(value) : uint64_t(value);
  int lz = countLeadingZeros64(magnitude);
  return roundToFormat(negative, 63 - lz, magnitude << lz, format, overflow);
}

/// The exact value of `bits` in `format` (NaN payloads kept).
static double formatToDouble(uint64_t bits, FloatFormat format) {
  const int bias = (1 << (format.expBits - 1)) - 1;
  const uint64_t expMax = (uint64_t(1) << format.expBits) - 1;
  const uint64_t mantMask = (uint64_t(1) << format.mantBits) - 1;
  bool negative = (bits >> (format.expBits + format.mantBits)) & 1;
  uint64_t exp = (bits >> format.mantBits) & expMax;
  uint64_t mant = bits & mantMask;
  if (exp == expMax) {
    uint64_t out = (uint64_t(negative) << 63) | (uint64_t(0x7ff) << 52) |
                   (mant << (52 - format.mantBits));
    double result;
    std::memcpy(&result, &out, sizeof(result));
    return result;
  }
  double magnitude =
      exp == 0 ? std::ldexp(double(mant), 1 - bias - format.mantBits)
               : std::ldexp(double(mant | (uint64_t(1) << format.mantBits)),
                            int(exp) - bias - format.mantBits);
  return negative ? -magnitude : magnitude;
}

static uint32_t floatToBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

static double floatToDouble(float value) {
  // The hardware conversion is exact except that it may change a NaN's bits.
  if (value != value)
    return formatToDouble(floatToBits(value), kF32);
  return double(value);
}

uint16_t doubleToBF16Bits(double value) {
  bool overflow;
  return uint16_t(doubleToFormat(value, kBF16, overflow));
}
uint16_t floatToBF16Bits(float value) {
  return doubleToBF16Bits(floatToDouble(value));
}
uint16_t doubleToF16Bits(double value) {
  bool overflow;
  return uint16_t(doubleToFormat(value, kF16, overflow));
}
uint16_t floatToF16Bits(float value) {
  return doubleToF16Bits(floatToDouble(value));
}

double bf16BitsToDouble(uint16_t bits) { return formatToDouble(bits, kBF16); }
double f16BitsToDouble(uint16_t bits) { return formatToDouble(bits, kF16); }

//===----------------------------------------------------------------------===//
// Single elements
//===----------------------------------------------------------------------===//

template <typename T> static T loadRaw(const void *src) {
  T value;
  std::memcpy(&value, src, sizeof(T));
  return value;
}

template <typename T> static void storeRaw(void *dst, T value) {
  std::memcpy(dst, &value, sizeof(T));
}

/// Integer element as int64 (integer types only).
static int64_t loadInteger(DType dtype, const void *src) {
  switch (dtype) {
  case DType::I32:
    return loadRaw<int32_t>(src);
  case DType::I64:
    return loadRaw<int64_t>(src);
  case DType::I8:
    return loadRaw<int8_t>(src);
  case DType::U8:
    return loadRaw<uint8_t>(src);
  case DType::Bool:
    return loadRaw<uint8_t>(src) != 0;
  default:
    return 0;
  }
}

/// Stores an integer into an integer type, saturating; false when saturated.
static bool storeInteger(DType dtype, int64_t value, void *dst) {
  auto saturate = [&](auto tag) {
    using T = decltype(tag);
    int64_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
    bool inRange = value >= lo && value <= hi;
    storeRaw<T>(dst, T(value < lo ? lo : value > hi ? hi : value));
    return inRange;
  };
  switch (dtype) {
  case DType::I32:
    return saturate(int32_t());
  case DType::I64:
    storeRaw<int64_t>(dst, value);
    return true;
  case DType::I8:
    return saturate(int8_t());
  case DType::U8:
    return saturate(uint8_t());
  case DType::Bool:
    storeRaw<uint8_t>(dst, value != 0);
    return value == 0 || value == 1;
  default:
    return false;
  }
}

static FloatFormat floatFormat(DType dtype) {
  switch (dtype) {
  case DType::F64:
    return kF64;
  case DType::BF16:
    return kBF16;
  case DType::F16:
    return kF16;
  default:
    return kF32;
  }
}

/// Stores format bits of a float type.
static void storeFloatBits(DType dtype, uint64_t bits, void *dst) {
  switch (dtype) {
  case DType::F64:
    storeRaw<uint64_t>(dst, bits);
    return;
  case DType::F32:
    storeRaw<uint32_t>(dst, uint32_t(bits));
    return;
  default:
    storeRaw<uint16_t>(dst, uint16_t(bits));
    return;
  }
}

double loadElement(DType dtype, const void *src) {
  switch (dtype) {
  case DType::F32:
    return floatToDouble(loadRaw<float>(src));
  case DType::F64:
    return loadRaw<double>(src);
  case DType::BF16:
    return bf16BitsToDouble(loadRaw<uint16_t>(src));
  case DType::F16:
    return f16BitsToDouble(loadRaw<uint16_t>(src));
  case DType::I64: {
    bool overflow; // never for f64
    uint64_t bits = int64ToFormat(loadRaw<int64_t>(src), kF64, overflow);
    double result;
    std::memcpy(&result, &bits, sizeof(result));
    return result;
  }
  default:
    return double(loadInteger(dtype, src));
  }
}

/// Rounds to an integral value, ties to even (finite input).
static double roundHalfEven(double value) {
  double lower = std::floor(value);
  double fraction = value - lower; // exact
  if (fraction > 0.5)
    return lower + 1;
  if (fraction < 0.5)
    return lower;
  return std::fmod(lower, 2.0) == 0 ? lower : lower + 1;
}

bool storeElement(DType dtype, double value, void *dst) {
  if (isFloatDType(dtype)) {
    if (dtype == DType::F64) {
      storeRaw<double>(dst, value);
      return true;
    }
    bool overflow;
    storeFloatBits(dtype, doubleToFormat(value, floatFormat(dtype), overflow), dst);
    return !overflow;
  }
  if (dtype == DType::Bool) {
    storeRaw<uint8_t>(dst, value != 0);
    return value == 0 || value == 1;
  }
  if (value != value) {
    storeInteger(dtype, 0, dst);
    return false;
  }
  double rounded = roundHalfEven(value);
  // 2^63 is the first double beyond int64; every narrower type saturates in
  // storeInteger.
  constexpr double kTwo63 = 9223372036854775808.0;
  if (rounded >= kTwo63) {
    storeInteger(dtype, std::numeric_limits<int64_t>::max(), dst);
    return false;
  }
  if (rounded < -kTwo63) {
    storeInteger(dtype, std::numeric_limits<int64_t>::min(), dst);
    return false;
  }
  return storeInteger(dtype, int64_t(rounded), dst);
}

//===----------------------------------------------------------------------===//
// Buffers
//===----------------------------------------------------------------------===//

size_t convertElements(DType from, const void *src, DType to, void *dst,
                       size_t count) {
  const auto *in = static_cast<const unsigned char *>(src);
  auto *out = static_cast<unsigned char *>(dst);
  const size_t inSize = dtypeSize(from), outSize = dtypeSize(to);
  if (from == to) {
    if (count)
      std::memcpy(dst, src, count * inSize);
    return 0;
  }
  if (from == DType::BF16 && to == DType::F32) { // the common checkpoint case
    for (size_t i = 0; i < count; ++i) {
      uint32_t bits = uint32_t(loadRaw<uint16_t>(in + i * 2)) << 16;
      std::memcpy(out + i * 4, &bits, 4);
    }
    return 0;
  }
  size_t outOfRange = 0;
  if (isIntegerDType(from) && isIntegerDType(to)) {
    for (size_t i = 0; i < count; ++i)
      outOfRange += !storeInteger(to, loadInteger(from, in + i * inSize),
                                  out + i * outSize);
    return outOfRange;
  }
  if (isIntegerDType(from)) { // to a float: one rounding
    FloatFormat format = floatFormat(to);
    for (size_t i = 0; i < count; ++i) {
      bool overflow;
      storeFloatBits(to,
                     int64ToFormat(loadInteger(from, in + i * inSize), format,
                                   overflow),
                     out + i * outSize);
      outOfRange += overflow;
    }
    return outOfRange;
  }
  for (size_t i = 0; i < count; ++i)
    outOfRange += !storeElement(to, loadElement(from, in + i * inSize),
                                out + i * outSize);
  return outOfRange;
}

} // namespace moert
