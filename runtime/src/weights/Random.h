//===- Random.h - Seeded, platform-independent random tensors ---*- C++ -*-===//
//
// Random weights for demos and tests, identical on every platform and build:
// element i of the tensor named `name` depends only on (seed, name, dtype,
// low, high, i). The generator is counter-based (splitmix64 of a key and the
// element index), so a rank can generate just its shard of a tensor
// (fillRandomRange) and get the same bytes as slicing the whole tensor.
//
//   key       = splitmix64(seed) ^ fnv1a64(name)
//   bits(i)   = splitmix64 output number i of the stream started at `key`
//   u(i)      = (bits(i) >> 11) * 2^-53                      in [0, 1)
//   floats:     low + (high - low) * u(i) in double, rounded into the dtype
//               (to nearest even; after rounding, `high` itself may occur)
//   integers:   an integer in [ceil(low), floor(high)] (clamped to the type),
//               lo + floor(bits(i) * span / 2^64)
//   bool:       as integers, clamped to [0, 1]
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_WEIGHTS_RANDOM_H
#define MOERT_WEIGHTS_RANDOM_H

#include "DType.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace moert {

/// Fills `out` with `count` elements of `dtype` (count * dtypeSize(dtype)
/// bytes, any alignment), uniform in [low, high] as described above.
/// Fails (returns false, `out` untouched) when low or high is not finite,
/// low > high, or no integer lies in the range for an integer dtype.
[[nodiscard]] bool fillRandom(uint64_t seed, std::string_view name, DType dtype,
                              size_t count, double low, double high, void *out,
                              std::string &error);

/// Elements firstIndex .. firstIndex + count - 1 of the tensor fillRandom
/// would generate, written to out[0 .. count - 1].
[[nodiscard]] bool fillRandomRange(uint64_t seed, std::string_view name,
                                   DType dtype, uint64_t firstIndex,
                                   size_t count, double low, double high,
                                   void *out, std::string &error);

/// The 64-bit FNV-1a hash of `text` (exposed for tests and for tools that want
/// to reproduce the stream).
uint64_t fnv1a64(std::string_view text);

} // namespace moert

#endif // MOERT_WEIGHTS_RANDOM_H
