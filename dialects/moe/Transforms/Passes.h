//===- Passes.h - moe dialect passes ----------------------------*- C++ -*-===//

#ifndef MOE_TRANSFORMS_PASSES_H
#define MOE_TRANSFORMS_PASSES_H

#include "moe/IR/MoEAttrs.h"

#include "mlir/Pass/Pass.h"

#include <functional>

namespace mlir {
class RewritePatternSet;
namespace moe {

#define GEN_PASS_DECL
#include "moe/Transforms/Passes.h.inc"

/// Patterns of `moe-decompose`: moe.layer into router/dispatch/experts/combine
/// (+ null and shared experts), and with `expandChains` moe.chain into layers.
void populateMoEDecomposePatterns(RewritePatternSet &patterns,
                                  bool expandChains);

class GroupedMatmulOp;
/// Whether a target wants the gather folded into this moe.grouped_matmul.
using GatherFusionFilter = std::function<bool(GroupedMatmulOp)>;
/// Patterns of `moe-fuse`: a moe.grouped_matmul reading a moe.dispatch's
/// rows gathers them from the tokens through the dispatch's sources (where
/// `accept`, if given, agrees).
void populateMoEFusePatterns(RewritePatternSet &patterns,
                             GatherFusionFilter accept = nullptr);

/// logits[T, E] = tokens · router (f32 linalg matmul), reading `router` as
/// [H, E] (`in_out`) or [E, H] (`out_in`); moe-decompose and moe-shard.
Value buildRouterLogits(OpBuilder &builder, Location loc, Value tokens,
                        Value router, WeightLayout layout);

#define GEN_PASS_REGISTRATION
#include "moe/Transforms/Passes.h.inc"

} // namespace moe
} // namespace mlir

#endif // MOE_TRANSFORMS_PASSES_H
