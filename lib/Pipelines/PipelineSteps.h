//===- PipelineSteps.h - steps shared by the CPU and CUDA pipelines -*- C++ -*-===//

#ifndef MOE_LIB_PIPELINES_PIPELINESTEPS_H
#define MOE_LIB_PIPELINES_PIPELINESTEPS_H

#include "mlir/Pass/Pass.h"

#include <memory>

namespace mlir {
class OpPassManager;
namespace moe {

/// From the moe ops' tensor-level lowering to buffers: elementwise tensor
/// arith to linalg, read-only public arguments (the runtime passes the
/// caller's inputs in place), one-shot bufferization with identity layouts at
/// function boundaries (plain strided memrefs for the C interface), ownership
/// based deallocation when `deallocate` (the GPU path frees its device
/// buffers itself, in moe-map-loops-to-gpu: the ownership bookkeeping would
/// be host code reading flags from buffers), and memref.copy rewritten as
/// linalg.copy (loops, never a call into MLIR's runtime libraries).
void addBufferizationSteps(OpPassManager &pm, bool deallocate);

/// Marks every public function for a C interface wrapper, so that the runtime
/// calls `_mlir_ciface_<name>` with memref descriptors.
std::unique_ptr<Pass> createEmitCInterfacesPass();

} // namespace moe
} // namespace mlir

#endif // MOE_LIB_PIPELINES_PIPELINESTEPS_H
