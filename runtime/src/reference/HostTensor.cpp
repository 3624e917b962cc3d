//===- HostTensor.cpp - the reference's tensor type -----------------------===//

#include "HostTensor.h"

namespace moert::reference {

bool isFloatDtype(const std::string &dtype) {
  return dtype == "f32" || dtype == "bf16" || dtype == "f16";
}

bool isIndexDtype(const std::string &dtype) {
  return dtype == "i32" || dtype == "i64";
}

int64_t elementCount(const std::vector<int64_t> &shape) {
  int64_t count = 1;
  for (int64_t dim : shape)
    if (dim < 0 || __builtin_mul_overflow(count, dim, &count))
      return -1;
  return count;
}

std::string shapeToString(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

HostTensor zeroTensor(std::string dtype, std::vector<int64_t> shape) {
  HostTensor tensor{std::move(dtype), std::move(shape), {}};
  tensor.data.assign(static_cast<size_t>(elementCount(tensor.shape)), 0.0);
  return tensor;
}

} // namespace moert::reference
