//===- WeightBinder.h - Binding named inputs to checkpoint tensors -*- C++ -*-===//
//
// A compiled module names the checkpoint tensor behind each weight input
// (the `moe.input` argument attribute), e.g.
//
//   "model.layers.0.block_sparse_moe.gate.weight"                 plain
//   "model.layers.0.block_sparse_moe.experts.{expert}.w1.weight"  per expert
//
// The binder finds those tensors in a set of opened safetensors files (the
// shards of a checkpoint) and writes them, converted to the input's dtype,
// into a buffer of the input's shape:
//
//  - a plain name must be in exactly one file;
//  - a name with `{expert}` stacks the tensors name[{expert} := e] for
//    e = 0 .. shape[0] - 1 (plus BindOptions::firstExpert), each of
//    shape shape[1:], into one [E, ...] buffer;
//  - a checkpoint shape may differ from the expected one only by size-1
//    dimensions (a [1, H] tensor binds to an [H] input, and back);
//  - dtypes convert float to float (rounding to nearest even) and integer to
//    integer (bool counts as an integer); a value the input type cannot hold
//    (a finite float that would become inf, an integer out of range) is an
//    error, and so is a float/integer mismatch.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_WEIGHTS_WEIGHTBINDER_H
#define MOERT_WEIGHTS_WEIGHTBINDER_H

#include "DType.h"
#include "Safetensors.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moert {

/// The placeholder a name uses for the expert index.
inline constexpr std::string_view kExpertPlaceholder = "{expert}";

/// True when `name` contains "{expert}".
bool hasExpertPlaceholder(std::string_view name);

/// `pattern` with every "{expert}" replaced by the decimal `expert`.
std::string expandExpertName(std::string_view pattern, int64_t expert);

/// Options of WeightBinder::bind.
struct BindOptions {
  /// The expert index bound to row 0 of a `{expert}` input: an expert-parallel
  /// rank holding experts [first, first + shape[0]) passes `first`.
  int64_t firstExpert = 0;
};

/// Binds inputs to the tensors of a fixed set of files. Stateless after
/// construction: bind may be called from several threads at once.
class WeightBinder {
public:
  /// `files` are borrowed and must outlive the binder (null entries are
  /// ignored). Their order only matters for the order files are named in
  /// messages.
  explicit WeightBinder(std::vector<const SafetensorsFile *> files);

  /// Writes the input `inputName` of type `dtype` and shape `shape` into
  /// `out`, which holds `outBytes` bytes (must be exactly
  /// product(shape) * dtypeSize(dtype); any alignment). On failure returns
  /// false with `error` naming the input and, as they apply, the tensor, the
  /// file(s), the expert index, and the expected and actual shape and dtype;
  /// `out` may then be partly written.
  [[nodiscard]] bool bind(std::string_view inputName, DType dtype,
                          const std::vector<int64_t> &shape, void *out,
                          size_t outBytes, std::string &error,
                          const BindOptions &options = {}) const;

  /// Finds the one file holding `tensorName` (a concrete name, no
  /// placeholder). Fails when no file or more than one holds it.
  [[nodiscard]] bool locate(std::string_view tensorName,
                            const SafetensorsFile *&file,
                            const SafetensorsTensor *&tensor,
                            std::string &error) const;

private:
  std::vector<const SafetensorsFile *> files_;
};

/// Shape as text, e.g. "[8, 128, 64]" ("[]" for a scalar).
std::string shapeToString(const std::vector<int64_t> &shape);

} // namespace moert

#endif // MOERT_WEIGHTS_WEIGHTBINDER_H
