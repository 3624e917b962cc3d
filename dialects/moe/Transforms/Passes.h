//===- Passes.h - moe dialect passes ----------------------------*- C++ -*-===//

#ifndef MOE_TRANSFORMS_PASSES_H
#define MOE_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace moe {

#define GEN_PASS_DECL
#include "moe/Transforms/Passes.h.inc"

/// Patterns of `moe-decompose`: moe.layer into router/dispatch/experts/combine
/// (+ null and shared experts), and with `expandChains` moe.chain into layers.
void populateMoEDecomposePatterns(RewritePatternSet &patterns,
                                  bool expandChains);

#define GEN_PASS_REGISTRATION
#include "moe/Transforms/Passes.h.inc"

} // namespace moe
} // namespace mlir

#endif // MOE_TRANSFORMS_PASSES_H
