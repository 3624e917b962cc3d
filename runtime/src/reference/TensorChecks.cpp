//===- TensorChecks.cpp - operand validation for the reference ops --------===//

#include "TensorChecks.h"

#include <cmath>

namespace moert::reference {

static bool checkWellFormed(const HostTensor &tensor, const char *name,
                            size_t rank, const char *hint,
                            std::string &error) {
  if (tensor.shape.size() != rank) {
    error = std::string("'") + name + "' must have rank " +
            std::to_string(rank) + " (" + hint + "), got shape " +
            shapeToString(tensor.shape);
    return false;
  }
  int64_t count = elementCount(tensor.shape);
  if (count < 0 || static_cast<uint64_t>(count) != tensor.data.size()) {
    error = std::string("'") + name + "' of shape " +
            shapeToString(tensor.shape) + " holds " +
            std::to_string(tensor.data.size()) + " elements";
    return false;
  }
  return true;
}

bool checkFloat(const HostTensor &tensor, const char *name, size_t rank,
                const char *hint, std::string &error) {
  if (!isFloatDtype(tensor.dtype)) {
    error = std::string("'") + name +
            "' must have a float dtype (f32, bf16, f16), got '" +
            tensor.dtype + "'";
    return false;
  }
  return checkWellFormed(tensor, name, rank, hint, error);
}

bool checkIndex(const HostTensor &tensor, const char *name, size_t rank,
                const char *hint, std::string &error) {
  if (!isIndexDtype(tensor.dtype)) {
    error = std::string("'") + name +
            "' must have an index dtype (i32, i64), got '" + tensor.dtype +
            "'";
    return false;
  }
  if (!checkWellFormed(tensor, name, rank, hint, error))
    return false;
  for (double value : tensor.data)
    if (!(std::fabs(value) < 9.2e18) || std::trunc(value) != value) {
      error = std::string("'") + name + "' holds a non-integer value " +
              std::to_string(value);
      return false;
    }
  return true;
}

bool checkDim(const HostTensor &tensor, const char *name, size_t dim,
              int64_t expected, const char *what, std::string &error) {
  if (tensor.shape[dim] == expected)
    return true;
  error = std::string("'") + name + "' dimension " + std::to_string(dim) +
          " is " + std::to_string(tensor.shape[dim]) + ", expected " +
          std::to_string(expected) + " (" + what + ")";
  return false;
}

bool checkFinite(const HostTensor &tensor, const char *name,
                 std::string &error) {
  for (double value : tensor.data)
    if (!std::isfinite(value)) {
      error = std::string("'") + name + "' holds a non-finite value";
      return false;
    }
  return true;
}

} // namespace moert::reference
