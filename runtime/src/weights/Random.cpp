//===- Random.cpp - Seeded, platform-independent random tensors -----------===//
//
// Built with -ffp-contract=off: `low + (high - low) * u` must not become a
// fused multiply-add on some targets and not on others.
//
//===----------------------------------------------------------------------===//

#include "Random.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moert {

static constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ull;

/// The splitmix64 output function.
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

/// The high 64 bits of a * b.
static uint64_t mulHigh64(uint64_t a, uint64_t b) {
  uint64_t aLo = a & 0xffffffffu, aHi = a >> 32;
  uint64_t bLo = b & 0xffffffffu, bHi = b >> 32;
  uint64_t p0 = aLo * bLo, p1 = aLo * bHi, p2 = aHi * bLo, p3 = aHi * bHi;
  uint64_t mid = (p0 >> 32) + (p1 & 0xffffffffu) + (p2 & 0xffffffffu);
  return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
}

static void integerRange(DType dtype, int64_t &min, int64_t &max) {
  switch (dtype) {
  case DType::I32:
    min = std::numeric_limits<int32_t>::min();
    max = std::numeric_limits<int32_t>::max();
    return;
  case DType::I8:
    min = -128;
    max = 127;
    return;
  case DType::U8:
    min = 0;
    max = 255;
    return;
  case DType::Bool:
    min = 0;
    max = 1;
    return;
  default:
    min = std::numeric_limits<int64_t>::min();
    max = std::numeric_limits<int64_t>::max();
    return;
  }
}

static std::string rangeText(double low, double high) {
  return "[" + std::to_string(low) + ", " + std::to_string(high) + "]";
}

bool fillRandomRange(uint64_t seed, std::string_view name, DType dtype,
                     uint64_t firstIndex, size_t count, double low, double high,
                     void *out, std::string &error) {
  if (!isValidDType(dtype)) {
    error = "random tensor '" + std::string(name) + "': invalid dtype";
    return false;
  }
  const std::string prefix = "random tensor '" + std::string(name) + "' (" +
                             std::string(dtypeName(dtype)) + ")";
  if (!std::isfinite(low) || !std::isfinite(high) || low > high) {
    error = prefix + ": bad range " + rangeText(low, high) +
            " (need finite low <= high)";
    return false;
  }
  if (count && !out) {
    error = prefix + ": no output buffer";
    return false;
  }
  const uint64_t key = mix64(seed) ^ fnv1a64(name);
  auto bits = [&](uint64_t i) {
    return mix64(key + (firstIndex + i + 1) * kGoldenGamma);
  };
  auto *bytes = static_cast<unsigned char *>(out);
  const size_t size = dtypeSize(dtype);

  if (isFloatDType(dtype)) {
    const double width = high - low;
    unsigned char scratch[8];
    if (!std::isfinite(width) || !storeElement(dtype, low, scratch) ||
        !storeElement(dtype, high, scratch)) {
      error = prefix + ": range " + rangeText(low, high) +
              " is beyond what the type holds";
      return false;
    }
    for (size_t i = 0; i < count; ++i) {
      double u = double(bits(i) >> 11) * 0x1p-53;
      double scaled = width * u;
      storeElement(dtype, low + scaled, bytes + i * size);
    }
    return true;
  }

  int64_t typeMin, typeMax;
  integerRange(dtype, typeMin, typeMax);
  constexpr double kTwo63 = 9223372036854775808.0;
  const double lowInt = std::ceil(low), highInt = std::floor(high);
  if (lowInt > highInt || lowInt >= kTwo63 || highInt < -kTwo63 ||
      lowInt > double(typeMax) || highInt < double(typeMin)) {
    error = prefix + ": no value of the type in " + rangeText(low, high);
    return false;
  }
  int64_t lo = lowInt <= -kTwo63 ? typeMin : std::max(int64_t(lowInt), typeMin);
  int64_t hi = highInt >= double(typeMax) ? typeMax
                                          : std::min(int64_t(highInt), typeMax);
  // Wraps to 0 for the whole int64 range, where the raw bits are the value.
  const uint64_t span = uint64_t(hi) - uint64_t(lo) + 1;
  for (size_t i = 0; i < count; ++i) {
    uint64_t r = bits(i);
    uint64_t offset = span ? mulHigh64(r, span) : r;
    int64_t value = int64_t(uint64_t(lo) + offset);
    convertElements(DType::I64, &value, dtype, bytes + i * size, 1);
  }
  return true;
}

bool fillRandom(uint64_t seed, std::string_view name, DType dtype, size_t count,
                double low, double high, void *out, std::string &error) {
  return fillRandomRange(seed, name, dtype, 0, count, low, high, out, error);
}

} // namespace moert
