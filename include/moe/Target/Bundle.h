//===- Bundle.h - artifact bundle writer ------------------------*- C++ -*-===//
//
// `moe-translate --moe-to-bundle`: compiles a tensor-level module for the CPU
// and writes the artifact bundle the runtime loads (layout and contract:
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

/// Writes the bundle of `module` (manifest, reference programs, CPU kernels
/// compiled for the host, schedule) to `output`. `module` is not modified.
/// Every failure is reported as a diagnostic on the offending operation.
LogicalResult translateModuleToBundle(ModuleOp module, raw_ostream &output);

/// The reference program (JSON, schema of runtime/src/reference/
/// ReferenceProgram.h) of `func`; failure (with a warning on `func`) when it
/// holds ops outside the moe dialect other than func.return.
FailureOr<std::string> buildReferenceProgram(func::FuncOp func);

/// Registers `--moe-to-bundle` with moe-translate.
void registerBundleTranslation();

} // namespace moe
} // namespace mlir

#endif // MOE_TARGET_BUNDLE_H
