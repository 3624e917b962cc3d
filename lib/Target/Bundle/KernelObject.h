//===- KernelObject.h - compile a module into the KERNELS object -*- C++ -*-===//
//
// The bundle's KERNELS section is an ELF shared object for the host: for the
// CPU target the kernels themselves, for the CUDA target the host code that
// allocates device memory and launches the kernels of an embedded fatbin
// through the runtime's mgpu* ABI.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_TARGET_BUNDLE_KERNELOBJECT_H
#define MOE_LIB_TARGET_BUNDLE_KERNELOBJECT_H

#include "moe/Target/Bundle.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
class ModuleOp;
namespace moe {

/// An error located at `module`, or at its first op when the module has no
/// location of its own (the implicit module of a parsed file).
InFlightDiagnostic moduleError(ModuleOp module);

/// The compiled kernels of a module.
struct KernelObject {
  /// Bundle target string: "cpu-<arch>" (e.g. "cpu-x86_64") or
  /// "cuda-<chip>" (e.g. "cuda-sm_90a").
  std::string target;
  /// The ELF shared object.
  std::string sharedObject;
};

/// Clones `module`, lowers the clone with the CPU or CUDA pipeline, translates
/// it to LLVM IR, optimizes (-O3) and compiles it for the host into a PIC
/// object in memory, and links that into a shared object with ld.lld. Errors
/// are diagnostics on `module` (or on the op a pass failed on).
FailureOr<KernelObject> compileKernelObject(ModuleOp module,
                                            const BundleTarget &target);

} // namespace moe
} // namespace mlir

#endif // MOE_LIB_TARGET_BUNDLE_KERNELOBJECT_H
