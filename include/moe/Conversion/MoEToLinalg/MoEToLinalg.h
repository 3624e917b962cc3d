//===- MoEToLinalg.h - moe to linalg/scf/tensor patterns --------*- C++ -*-===//

#ifndef MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H
#define MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H

namespace mlir {
class RewritePatternSet;
namespace moe {

/// Patterns lowering moe.router, moe.dispatch, moe.experts, moe.combine,
/// moe.null_experts and moe.shared_experts to linalg/tensor/scf/arith.
void populateMoEToLinalgConversionPatterns(RewritePatternSet &patterns);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H
