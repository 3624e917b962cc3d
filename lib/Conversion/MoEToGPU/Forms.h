//===- Forms.h - pattern groups of convert-moe-to-parallel-linalg -*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_FORMS_H
#define MOE_LIB_CONVERSION_MOETOGPU_FORMS_H

#include "moe/IR/MoEAttrs.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {

class LoweringBuilder;

/// The data-parallel forms win over the CPU lowerings of the same ops, which
/// the pass also adds (for the ops whose CPU form is already parallel).
constexpr unsigned kParallelFormBenefit = 2;
/// moe.experts (and the router logits matmul) as tensor-core grouped GEMMs
/// wins over the per-element form.
constexpr unsigned kGroupedMatmulBenefit = 3;

/// moe.experts, moe.shared_experts and float linalg.matmul (f32 result).
void populateExpertParallelFormPatterns(RewritePatternSet &patterns);
/// moe.experts as two moe.grouped_matmul where the tensor-core kernel applies.
void populateGroupedMatmulPatterns(RewritePatternSet &patterns);
/// The router logits GEMM (f32 linalg.matmul, B transposed) as a one-group
/// moe.grouped_matmul where the tensor-core kernel applies.
void populateRouterLogitsGroupedMatmulPatterns(RewritePatternSet &patterns);
/// moe.dispatch and moe.combine.
void populateRoutingParallelFormPatterns(RewritePatternSet &patterns);

/// Whether convert-moe-to-gpu's fused router kernel runs the router `op`
/// (moe.router or moe.fused_router, on tensors) of `tokens` [T, H] and
/// `weight` [E, H]: at a function's top level (the kernel's buffers are
/// allocated at its entry), operands that are not tensor.extract_slice views
/// (TMA reads contiguous buffers), and the kernel's own conditions
/// (chooseFusedRouterTiles). A RouterFusionFilter (moe-fuse).
bool runsFusedRouterKernel(Operation *op, Value tokens, Value weight,
                           RoutingAttr routing);

/// moe.combine's first step on tensors: the row of `outputs` that holds each
/// slot t·K+k of `weights` [T, K] (the inverse of `sources`), -1 where none
/// does; one independent write per row.
Value combineSlotRows(LoweringBuilder &b, Value outputs, Value sources,
                      Value weights);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOGPU_FORMS_H
