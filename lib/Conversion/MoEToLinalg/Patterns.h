//===- Patterns.h - per-op pattern groups of the moe CPU lowering -*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H
#define MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H

#include "mlir/Support/LLVM.h"

namespace mlir {
class RewritePatternSet;
namespace moe {
class CompositionOp;

void populateRouterLoweringPatterns(RewritePatternSet &patterns);
void populateDispatchLoweringPatterns(RewritePatternSet &patterns);
void populateExpertsLoweringPatterns(RewritePatternSet &patterns);
void populateCombineLoweringPatterns(RewritePatternSet &patterns);
void populateUnionLoweringPatterns(RewritePatternSet &patterns);

/// moe.composition: a loop over requests calling the chosen model. Not part
/// of populateMoEToLinalgConversionPatterns, which the GPU path reuses: the
/// composition runs on the CPU only for now.
void populateCompositionLoweringPatterns(RewritePatternSet &patterns);
/// Emits an error on `op` when the composition lowering cannot take it.
LogicalResult checkCompositionLowering(CompositionOp op);

} // namespace moe
} // namespace mlir

#endif // MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H
