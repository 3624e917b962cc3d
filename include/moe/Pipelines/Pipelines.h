//===- Pipelines.h - named compilation pipelines ----------------*- C++ -*-===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

namespace mlir {
class OpPassManager;
namespace moe {

/// The CPU pipeline (`moe-cpu-pipeline`): moe ops -> linalg/tensor/scf ->
/// bufferized loops -> LLVM dialect. Every public function gets a C interface
/// (`_mlir_ciface_<name>`, memref descriptors by pointer) for the runtime.
void buildCPUPipeline(OpPassManager &pm);

/// Registers the named pipelines with the global pass registry.
void registerPipelines();

} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
