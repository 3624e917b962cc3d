//===- Patterns.h - per-op pattern groups of the moe CPU lowering -*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H
#define MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H

namespace mlir {
class RewritePatternSet;
namespace moe {

void populateRouterLoweringPatterns(RewritePatternSet &patterns);
void populateDispatchLoweringPatterns(RewritePatternSet &patterns);
void populateExpertsLoweringPatterns(RewritePatternSet &patterns);
void populateCombineLoweringPatterns(RewritePatternSet &patterns);
void populateUnionLoweringPatterns(RewritePatternSet &patterns);

} // namespace moe
} // namespace mlir

#endif // MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H
