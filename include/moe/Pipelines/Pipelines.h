//===- Pipelines.h - named compilation pipelines ----------------*- C++ -*-===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

namespace mlir {
class OpPassManager;
namespace moe {

/// Options of the CPU pipeline. The defaults are what bundles need.
struct CPUPipelineOptions {
  /// Lower to the LLVM dialect. When false the pipeline stops at bufferized
  /// loops (scf, memref, arith, math), for hosts that lower on their own.
  bool lowerToLLVM = true;
  /// Give every public function a C interface (`_mlir_ciface_<name>`), the
  /// entry points the runtime calls.
  bool emitCInterfaces = true;
};

/// The CPU pipeline (`moe-cpu-pipeline`): moe ops -> linalg/tensor/scf ->
/// bufferized loops -> LLVM dialect. Every public function gets a C interface
/// (`_mlir_ciface_<name>`, memref descriptors by pointer) for the runtime.
void buildCPUPipeline(OpPassManager &pm,
                      const CPUPipelineOptions &options = {});

/// Registers the named pipelines with the global pass registry.
void registerPipelines();

} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
