//===- DType.h - Runtime element types and exact conversions ----*- C++ -*-===//
//
// The element types the runtime moves around (tensor inputs, checkpoint
// tensors, outputs), their names, byte sizes, and conversions between raw
// element bytes and double.
//
// Conversions are exact where the target can hold the value and round to
// nearest, ties to even, where it cannot (bf16, f16, f32 from wider types);
// they do not depend on the compiler (no _Float16) nor on the floating-point
// environment. Raw element bytes are little-endian, as in safetensors files;
// the runtime requires a little-endian host.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_WEIGHTS_DTYPE_H
#define MOERT_WEIGHTS_DTYPE_H

#include "HalfBits.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace moert {

/// An element type. The enumerator values are stable (they may be stored)
/// and, for the types both have, equal to MOERT_DTYPE_* of the bundle format
/// (runtime/include/moert/bundle_format.h); 0 is no type.
enum class DType : uint8_t {
  F32 = 1,
  F16 = 2,
  BF16 = 3,
  I32 = 4,
  I64 = 5,
  F64 = 6,
  I8 = 7,
  U8 = 8,
  Bool = 9,
};

/// Number of element types.
inline constexpr int kNumDTypes = 9;

/// Every element type, in enumerator order.
inline constexpr DType kAllDTypes[kNumDTypes] = {
    DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64,
    DType::F64, DType::I8,  DType::U8,   DType::Bool};

/// True when `dtype` is one of the enumerators (e.g. after a cast from a
/// stored integer).
inline bool isValidDType(DType dtype) {
  return uint8_t(dtype) >= 1 && uint8_t(dtype) <= kNumDTypes;
}

/// Size of one element in bytes (bool is one byte, 0 or 1). The functions
/// below expect a valid DType; an invalid one is treated as f32.
size_t dtypeSize(DType dtype);

/// The runtime's name: "f32", "f64", "bf16", "f16", "i32", "i64", "i8", "u8",
/// "bool" (as in the manifest and on the command line).
std::string_view dtypeName(DType dtype);

/// The safetensors name: "F32", "F64", "BF16", "F16", "I32", "I64", "I8",
/// "U8", "BOOL".
std::string_view dtypeSafetensorsName(DType dtype);

/// Parses a runtime name ("f32", ...; also "i1" for bool, as MLIR spells it).
/// Returns false, leaving `out` untouched, for anything else.
bool parseDType(std::string_view name, DType &out);

/// Parses a safetensors name ("F32", ...). Returns false, leaving `out`
/// untouched, for anything else (including the safetensors types the runtime
/// does not support, e.g. "F8_E4M3", "U16").
bool parseSafetensorsDType(std::string_view name, DType &out);

/// True for f32, f64, bf16, f16.
bool isFloatDType(DType dtype);

/// True for i32, i64, i8, u8 and bool.
inline bool isIntegerDType(DType dtype) { return !isFloatDType(dtype); }

//===----------------------------------------------------------------------===//
// 16-bit floats
//===----------------------------------------------------------------------===//

/// bf16 / f16 bits from a double or float, rounding to nearest, ties to even.
/// Subnormal results are produced (not flushed); values beyond the largest
/// finite number round to +-inf; NaN stays NaN (quiet, sign and the top
/// payload bits kept); -0 stays -0.
uint16_t doubleToBF16Bits(double value);
uint16_t floatToBF16Bits(float value);
uint16_t doubleToF16Bits(double value);
uint16_t floatToF16Bits(float value);

/// The exact value of bf16 / f16 bits (every bf16 and f16 value is exactly a
/// float and a double; NaN payloads are kept). The float forms are in
/// HalfBits.h.
double bf16BitsToDouble(uint16_t bits);
double f16BitsToDouble(uint16_t bits);

//===----------------------------------------------------------------------===//
// Single elements
//===----------------------------------------------------------------------===//

/// Reads one element at `src` (any alignment) as a double. Exact for every
/// type except i64 values beyond 2^53 in magnitude, which round to nearest
/// even. A bool byte reads as 1 when nonzero.
double loadElement(DType dtype, const void *src);

/// Writes `value` as one element at `dst` (any alignment).
/// Floats: rounded to nearest even (overflow gives +-inf, NaN stays NaN).
/// Integers: rounded to nearest even, saturated to the type's range; NaN gives
/// 0. Bool: 1 when value != 0 (NaN included), else 0.
/// Returns false when the value was outside the target's range (a finite value
/// that became +-inf, a saturated integer, NaN into an integer, or a bool from
/// anything other than 0 or 1); the element is written either way.
bool storeElement(DType dtype, double value, void *dst);

//===----------------------------------------------------------------------===//
// Buffers
//===----------------------------------------------------------------------===//

/// Converts `count` elements from `src` (of type `from`) into `dst` (of type
/// `to`); buffers may be unaligned but must not overlap. Each element is
/// converted exactly once, with the rules of storeElement, from its exact
/// value: integer to integer goes through int64 (no precision loss), i64 to
/// a float rounds once, directly to the target (no double rounding).
/// Returns the number of elements that were outside the target's range (see
/// storeElement); 0 means every value is the correctly rounded source value.
size_t convertElements(DType from, const void *src, DType to, void *dst,
                       size_t count);

} // namespace moert

#endif // MOERT_WEIGHTS_DTYPE_H
