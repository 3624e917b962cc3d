//===- Compiler.h - the C++ API for hosts that embed the compiler -*- C++ -*-===//
//
// What a framework or serving engine needs to use MoE-MLIR as a backend from
// its own MLIRContext and pass managers (docs/embedding.md):
//
//   mlir::DialectRegistry registry;
//   mlir::moe::registerDialects(registry);      // moe + what lowering needs
//   mlir::MLIRContext context(registry);
//   mlir::moe::registerPasses();                // optional: textual pipelines
//   ... build or parse a module holding moe ops ...
//   mlir::FailureOr<std::string> bundle = mlir::moe::compileToBundle(module);
//   // hand *bundle to moert_bundle_load_memory (moert/moert.h)
//
// Errors are MLIR diagnostics on the module's context: attach a handler
// (ScopedDiagnosticHandler, SourceMgrDiagnosticHandler) to see them.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_COMPILER_COMPILER_H
#define MOE_COMPILER_COMPILER_H

#include "moe/Pipelines/Pipelines.h"
#include "moe/Target/Bundle.h"

#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
class DialectRegistry;
class ModuleOp;
namespace moe {

/// Adds the moe dialect, and every upstream dialect, interface and extension
/// that the CPU pipeline and the bundle writer use (bufferization models,
/// ConvertToLLVM interfaces, LLVM IR translations), to a host's registry.
void registerDialects(DialectRegistry &registry);

/// Registers the moe passes and pipelines (`moe-decompose`,
/// `convert-moe-to-linalg`, `moe-cpu-pipeline`, ...) with the global pass
/// registry, for hosts that parse textual pipelines. Idempotent.
void registerPasses();

// The pipelines go into a host's pass manager (anchored on builtin.module)
// with `buildCPUPipeline(pm, CPUPipelineOptions{...})` or
// `buildCUDAPipeline(pm, CUDAPipelineOptions{...})` from
// moe/Pipelines/Pipelines.h, included above.

/// Options of compileToBundle.
struct BundleOptions {
  /// CPU (default) or CUDA with a chip (moe/Target/Bundle.h).
  BundleTarget target;
  /// Run the verifier on the module first (a clear error instead of a
  /// failure deep in a pass when a host built invalid IR).
  bool verify = true;
};

/// Compiles `module` (moe ops at tensor level; public functions become the
/// bundle's functions) into an artifact bundle in memory, the bytes that
/// `moe-translate --moe-to-bundle` writes. `module` is not modified. The
/// translations to LLVM IR are added to the module's context if missing.
/// On failure, diagnostics on the context say why.
FailureOr<std::string> compileToBundle(ModuleOp module,
                                       const BundleOptions &options = {});

} // namespace moe
} // namespace mlir

#endif // MOE_COMPILER_COMPILER_H
