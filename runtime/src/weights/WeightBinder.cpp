//===- WeightBinder.cpp - Binding named inputs to checkpoint tensors ------===//

#include "WeightBinder.h"

#include <limits>
#include <utility>

namespace moert {

bool hasExpertPlaceholder(std::string_view name) {
  return name.find(kExpertPlaceholder) != std::string_view::npos;
}

std::string expandExpertName(std::string_view pattern, int64_t expert) {
  const std::string index = std::to_string(expert);
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = pattern.find(kExpertPlaceholder, pos);
    if (hit == std::string_view::npos)
      break;
    out.append(pattern.substr(pos, hit - pos));
    out += index;
    pos = hit + kExpertPlaceholder.size();
  }
  out.append(pattern.substr(pos));
  return out;
}

std::string shapeToString(const std::vector<int64_t> &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

static std::vector<int64_t> withoutUnitDims(const std::vector<int64_t> &shape) {
  std::vector<int64_t> out;
  for (int64_t dim : shape)
    if (dim != 1)
      out.push_back(dim);
  return out;
}

/// Element count of a shape of non-negative dimensions; false on overflow.
static bool elementCount(const std::vector<int64_t> &shape, uint64_t &count) {
  count = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      return false;
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / uint64_t(dim))
      return false;
    count *= uint64_t(dim);
  }
  return true;
}

WeightBinder::WeightBinder(std::vector<const SafetensorsFile *> files) {
  for (const SafetensorsFile *file : files)
    if (file)
      files_.push_back(file);
}

bool WeightBinder::locate(std::string_view tensorName,
                          const SafetensorsFile *&file,
                          const SafetensorsTensor *&tensor,
                          std::string &error) const {
  file = nullptr;
  tensor = nullptr;
  for (const SafetensorsFile *candidate : files_) {
    const SafetensorsTensor *found = candidate->find(tensorName);
    if (!found)
      continue;
    if (file) {
      error = "tensor '" + std::string(tensorName) + "' is in both " +
              file->path() + " and " + candidate->path() + " (ambiguous)";
      file = nullptr;
      tensor = nullptr;
      return false;
    }
    file = candidate;
    tensor = found;
  }
  if (file)
    return true;
  error = "tensor '" + std::string(tensorName) + "' not found in ";
  if (files_.empty())
    return error += "any file (no weight files given)", false;
  error += files_.size() == 1 ? "" : "any of ";
  constexpr size_t kMaxNamed = 4;
  for (size_t i = 0; i < files_.size() && i < kMaxNamed; ++i)
    error += (i ? ", " : "") + files_[i]->path();
  if (files_.size() > kMaxNamed)
    error += " and " + std::to_string(files_.size() - kMaxNamed) + " more";
  return false;
}

/// Copies one located tensor into `out` (of `dtype` and shape `expected`;
/// shapes equal up to size-1 dimensions have equal element counts). `what` names the input (and expert) for messages.
static bool copyTensor(const std::string &what, const SafetensorsFile &file,
                       const SafetensorsTensor &tensor, DType dtype,
                       const std::vector<int64_t> &expected, void *out,
                       std::string &error) {
  const std::string where =
      what + ": tensor '" + tensor.name + "' in " + file.path();
  if (withoutUnitDims(tensor.shape) != withoutUnitDims(expected)) {
    error = where + " has shape " + shapeToString(tensor.shape) + ", expected " +
            shapeToString(expected) + " (only size-1 dimensions may differ)";
    return false;
  }
  if (isFloatDType(tensor.dtype) != isFloatDType(dtype)) {
    error = where + " has dtype " + std::string(dtypeName(tensor.dtype)) +
            ", expected " + std::string(dtypeName(dtype)) +
            " (no conversion between float and integer types)";
    return false;
  }
  size_t outOfRange = convertElements(tensor.dtype, file.data(tensor), dtype,
                                      out, size_t(tensor.numElements));
  if (outOfRange) {
    error = where + ": " + std::to_string(outOfRange) + " of " +
            std::to_string(tensor.numElements) + " values of its dtype " +
            std::string(dtypeName(tensor.dtype)) +
            " are out of the range of the input dtype " +
            std::string(dtypeName(dtype));
    return false;
  }
  return true;
}

bool WeightBinder::bind(std::string_view inputName, DType dtype,
                        const std::vector<int64_t> &shape, void *out,
                        size_t outBytes, std::string &error,
                        const BindOptions &options) const {
  const std::string input = "input '" + std::string(inputName) + "'";
  if (!isValidDType(dtype)) {
    error = input + ": invalid dtype";
    return false;
  }
  uint64_t count;
  const uint64_t elementSize = dtypeSize(dtype);
  if (!elementCount(shape, count) ||
      (count && count > std::numeric_limits<uint64_t>::max() / elementSize)) {
    error = input + ": invalid shape " + shapeToString(shape);
    return false;
  }
  if (count * elementSize != uint64_t(outBytes)) {
    error = input + ": buffer of " + std::to_string(outBytes) +
            " bytes, but " + shapeToString(shape) + " of " +
            std::string(dtypeName(dtype)) + " needs " +
            std::to_string(count * elementSize);
    return false;
  }
  if (count && !out) {
    error = input + ": no output buffer";
    return false;
  }

  if (!hasExpertPlaceholder(inputName)) {
    const SafetensorsFile *file;
    const SafetensorsTensor *tensor;
    if (!locate(inputName, file, tensor, error)) {
      error = input + ": " + error;
      return false;
    }
    return copyTensor(input, *file, *tensor, dtype, shape, out, error);
  }

  if (shape.empty()) {
    error = input + ": has " + std::string(kExpertPlaceholder) +
            " but is a scalar (expected shape [experts, ...])";
    return false;
  }
  const int64_t numExperts = shape[0];
  if (options.firstExpert < 0 ||
      options.firstExpert > std::numeric_limits<int64_t>::max() - numExperts) {
    error = input + ": invalid first expert " + std::to_string(options.firstExpert);
    return false;
  }
  const std::vector<int64_t> expertShape(shape.begin() + 1, shape.end());
  uint64_t expertCount;
  elementCount(expertShape, expertCount); // cannot fail: divides `count`
  auto *bytes = static_cast<unsigned char *>(out);
  for (int64_t e = 0; e < numExperts; ++e) {
    const int64_t expert = options.firstExpert + e;
    const std::string what = input + " (expert " + std::to_string(expert) +
                             (options.firstExpert
                                  ? ", row " + std::to_string(e) + " of " +
                                        std::to_string(numExperts)
                                  : " of " + std::to_string(numExperts)) +
                             ")";
    const std::string name = expandExpertName(inputName, expert);
    const SafetensorsFile *file;
    const SafetensorsTensor *tensor;
    if (!locate(name, file, tensor, error)) {
      error = what + ": " + error;
      return false;
    }
    if (!copyTensor(what, *file, *tensor, dtype, expertShape,
                    bytes + uint64_t(e) * expertCount * elementSize, error))
      return false;
  }
  return true;
}

} // namespace moert
