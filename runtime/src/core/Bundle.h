//===- Bundle.h - a loaded, validated artifact bundle -----------*- C++ -*-===//
//
// The runtime's in-memory form of a bundle (runtime/include/moert/
// bundle_format.h). `parseBundle` checks every offset, size, index and count
// before it is used; a Bundle that it returns is self-consistent, so the
// executor indexes it without further checks.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_BUNDLE_H
#define MOERT_CORE_BUNDLE_H

#include "moert/bundle_format.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moert {

/// A dense row-major tensor type with a static shape.
struct TensorType {
  moert_dtype_t dtype = MOERT_DTYPE_INVALID;
  std::vector<int64_t> shape;
  size_t elementCount = 0;
  size_t byteSize = 0;

  bool operator==(const TensorType &other) const {
    return dtype == other.dtype && shape == other.shape;
  }
  bool operator!=(const TensorType &other) const { return !(*this == other); }
  /// "f32[2, 3]".
  std::string str() const;
};

struct TensorInfo {
  std::string name;
  /// The local type: the block this rank holds (the kernels' type).
  TensorType type;
  /// Multi-rank bundles (docs/multi-rank.md §3): the full tensor's shape
  /// (== type.shape when not split), and per dimension the bit mask of the
  /// grid axes it is split over (0: not split; axes ascending, first most
  /// significant in the block index). Empty in single-rank bundles.
  std::vector<int64_t> fullShape;
  std::vector<uint32_t> splitAxes;
  /// full'[i] = full[expertPermutation[i]] along dimension 0 before the
  /// split; empty when none.
  std::vector<int64_t> expertPermutation;
};

/// A composition of experts (moe.composition) that the runtime serves: per
/// request r, the model m = argmax selector[r] (ties to the lower index) runs
/// on request r with its weights (docs/composition.md).
struct Composition {
  struct Model {
    /// The manifest function the model runs as.
    size_t function = 0;
    /// inputs[j]: the composition's input that model input j takes; input 0
    /// is the requests input, of which the model gets one request.
    std::vector<uint32_t> inputs;
  };
  /// The composition's selector [R, M] and requests [R, ...] inputs.
  uint32_t selector = 0;
  uint32_t requests = 0;
  std::vector<Model> models;
};

/// A function of the manifest.
struct Function {
  std::string name;
  std::string symbol;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  /// Reference program JSON (empty when the bundle has none for it).
  std::string reference;
  /// Set for a composition: the runtime runs its models, it has no kernel
  /// and its program is empty.
  bool isComposition = false;
  Composition composition;
};

/// A kernel entry point of the KERNELS image.
struct Kernel {
  std::string symbol;
  std::vector<TensorType> arguments;
  std::vector<TensorType> results;
};

struct Command {
  moert_bundle_command_kind_t kind = MOERT_BUNDLE_COMMAND_ALLOCATE;
  /// The input (bind_input), output (output) or kernel (call) index.
  uint32_t index = 0;
  /// The buffer of allocate, bind_input and output.
  uint32_t buffer = 0;
  /// Buffers of a call.
  std::vector<uint32_t> arguments;
  std::vector<uint32_t> results;
};

/// The command list of one function.
struct Program {
  std::vector<TensorType> buffers;
  /// hostTier[b]: buffer b lives in host memory ("tier": "host"; page-locked
  /// on CUDA), an input that compiled code copies up itself
  /// (moert_tier_fetch_*, docs/memory-tiers.md). Such a buffer is only
  /// allocated, bound to an input and passed to kernels.
  std::vector<bool> hostTier;
  std::vector<Command> commands;

  /// Whether buffer `b` lives in host memory (false for programs built
  /// without tiers, e.g. by tests).
  bool isHostTier(uint32_t b) const {
    return b < hostTier.size() && hostTier[b];
  }
};

struct Bundle {
  std::string target;
  /// The rank grid of a sharded bundle ("grid"; axis 0 = edp, 1 = ep,
  /// 2 = etp); empty for a single-rank bundle.
  std::vector<int64_t> grid;
  /// prod(grid): the world size the bundle runs in (1 without a grid).
  int64_t worldSize = 1;
  std::vector<Function> functions;
  std::vector<Kernel> kernels;
  /// programs[i] runs functions[i].
  std::vector<Program> programs;
  /// The KERNELS section (a shared object for cpu-x86_64).
  std::vector<uint8_t> kernelImage;
  /// FNV-1a of the whole bundle file, for a bundle with a grid (0 without):
  /// the ranks of a multi-rank world check that they all loaded the same
  /// bundle before any collective.
  uint64_t fingerprint = 0;
};

/// Validates `size` bytes at `data` and fills `bundle`; on failure returns
/// false with a one-line reason in `error` (without an "invalid bundle"
/// prefix). Never reads outside [data, data + size).
bool parseBundle(const uint8_t *data, size_t size, Bundle &bundle,
                 std::string &error);

} // namespace moert

#endif // MOERT_CORE_BUNDLE_H
