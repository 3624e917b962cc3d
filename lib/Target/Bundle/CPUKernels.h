//===- CPUKernels.h - compile a module into a CPU shared object -*- C++ -*-===//

#ifndef MOE_LIB_TARGET_BUNDLE_CPUKERNELS_H
#define MOE_LIB_TARGET_BUNDLE_CPUKERNELS_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
class ModuleOp;
namespace moe {

/// An error located at `module`, or at its first op when the module has no
/// location of its own (the implicit module of a parsed file).
InFlightDiagnostic moduleError(ModuleOp module);

/// The compiled kernels of a module for the host CPU.
struct CPUKernels {
  /// Bundle target string, "cpu-<arch>" (e.g. "cpu-x86_64").
  std::string target;
  /// The ELF shared object.
  std::string sharedObject;
};

/// Clones `module`, lowers the clone with the CPU pipeline, translates it to
/// LLVM IR, optimizes (-O3) and compiles it for the host into a PIC object in
/// memory, and links that into a shared object with ld.lld. Errors are
/// diagnostics on `module` (or on the op a pass failed on).
FailureOr<CPUKernels> compileCPUKernels(ModuleOp module);

} // namespace moe
} // namespace mlir

#endif // MOE_LIB_TARGET_BUNDLE_CPUKERNELS_H
