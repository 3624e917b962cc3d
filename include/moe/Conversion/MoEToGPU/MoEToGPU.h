//===- MoEToGPU.h - moe to data-parallel forms and GPU kernels --*- C++ -*-===//

#ifndef MOE_CONVERSION_MOETOGPU_MOETOGPU_H
#define MOE_CONVERSION_MOETOGPU_MOETOGPU_H

namespace mlir {
class RewritePatternSet;
namespace moe {

/// Patterns lowering every executable moe op to linalg/tensor/scf/arith in a
/// data-parallel form: static iteration spaces, each element or independent
/// loop iteration computed on its own (convert-moe-to-parallel-linalg). With
/// `tensorCores`, expert FFNs and router logits GEMMs that fit the
/// tensor-core kernel become moe.grouped_matmul ops instead (lowered by
/// convert-moe-to-gpu).
void populateMoEToParallelLinalgPatterns(RewritePatternSet &patterns,
                                         bool tensorCores = false);

/// moe.grouped_matmul on tensors as a loop over experts of f32 linalg
/// matmuls (convert-grouped-matmul-to-linalg): the op's semantics on the CPU.
void populateGroupedMatmulToLinalgPatterns(RewritePatternSet &patterns);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOETOGPU_MOETOGPU_H
