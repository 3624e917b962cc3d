//===- Bundle.h - artifact bundle writer ------------------------*- C++ -*-===//
//
// `moe-translate --moe-to-bundle`: compiles a tensor-level module for the CPU
// or a CUDA GPU and writes the artifact bundle the runtime loads (layout and contract:
// runtime/include/moert/bundle_format.h).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_BUNDLE_H
#define MOE_TARGET_BUNDLE_H

#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
class ModuleOp;
namespace func {
class FuncOp;
} // namespace func
namespace moe {

/// What a bundle's kernels run on.
struct BundleTarget {
  enum class Kind {
    /// The host CPU (bundle target "cpu-<arch>").
    CPU,
    /// An NVIDIA GPU (bundle target "cuda-<chip>"): host code plus a fatbin
    /// built by the CUDA toolkit's ptxas.
    CUDA,
  };
  Kind kind = Kind::CPU;
  /// The GPU architecture for Kind::CUDA (sm_<major><minor>[a]).
  std::string chip = "sm_90a";
};

/// Writes the bundle of `module` (manifest, reference programs, kernels for
/// `target`, schedule) to `output`. `module` is not modified. Every failure
/// is reported as a diagnostic on the offending operation.
LogicalResult translateModuleToBundle(ModuleOp module, raw_ostream &output,
                                      const BundleTarget &target = {});

/// The reference program (JSON, schema of runtime/src/reference/
/// ReferenceProgram.h) of `func`; failure (with a warning on `func`) when it
/// holds ops outside the moe dialect other than func.return.
FailureOr<std::string> buildReferenceProgram(func::FuncOp func);

/// Registers `--moe-to-bundle` with moe-translate.
void registerBundleTranslation();

} // namespace moe
} // namespace mlir

#endif // MOE_TARGET_BUNDLE_H
