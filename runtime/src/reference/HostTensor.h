//===- HostTensor.h - the reference's tensor type ----------------*- C++ -*-===//
//
// A dense row-major tensor on the host. Whatever its dtype, the elements are
// held as doubles: floating-point values at full double precision (the
// reference computes in double), integers exactly.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_REFERENCE_HOSTTENSOR_H
#define MOERT_REFERENCE_HOSTTENSOR_H

#include <cstdint>
#include <string>
#include <vector>

namespace moert::reference {

struct HostTensor {
  std::string dtype; ///< "f32", "bf16", "f16", "i32" or "i64"
  std::vector<int64_t> shape;
  std::vector<double> data;
};

/// "f32", "bf16" or "f16".
bool isFloatDtype(const std::string &dtype);
/// "i32" or "i64".
bool isIndexDtype(const std::string &dtype);

/// Number of elements of `shape`; -1 when a dimension is negative or the
/// product overflows int64.
int64_t elementCount(const std::vector<int64_t> &shape);

/// "[2, 3]".
std::string shapeToString(const std::vector<int64_t> &shape);

/// A zero-filled tensor; `shape` must have a valid element count.
HostTensor zeroTensor(std::string dtype, std::vector<int64_t> shape);

} // namespace moert::reference

#endif // MOERT_REFERENCE_HOSTTENSOR_H
