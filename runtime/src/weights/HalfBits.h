//===- HalfBits.h - bf16 / f16 bits to float --------------------*- C++ -*-===//
//
// The exact float of bf16 and f16 bits (every bf16 and f16 value is a float;
// NaN payloads are kept). Header-only: libmoert (the composition's selector
// reader) does not link moert_weights, and both need the same conversion.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_WEIGHTS_HALFBITS_H
#define MOERT_WEIGHTS_HALFBITS_H

#include <cstdint>
#include <cstring>

namespace moert {

namespace half_bits {
inline float asFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}
} // namespace half_bits

inline float bf16BitsToFloat(uint16_t bits) {
  return half_bits::asFloat(uint32_t(bits) << 16);
}

inline float f16BitsToFloat(uint16_t bits) {
  uint32_t sign = uint32_t(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0x1f) // inf, or NaN with its payload
    return half_bits::asFloat(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) // normal: rebias 15 -> 127
    return half_bits::asFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in float.
  float magnitude = float(mantissa) * (1.0f / 16777216.0f);
  return sign ? -magnitude : magnitude;
}

} // namespace moert

#endif // MOERT_WEIGHTS_HALFBITS_H
