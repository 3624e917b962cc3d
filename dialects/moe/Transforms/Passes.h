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

/// Whether a target runs a router's logits GEMM and the router as one
/// moe.fused_router for `tokens` [T, H], router `weight` [E, H] and
/// `routing`, where `op` (the moe.router or moe.fused_router) is.
using RouterFusionFilter = std::function<bool(
    Operation *op, Value tokens, Value weight, RoutingAttr routing)>;
/// Patterns of `moe-fuse` for routers: a moe.router whose logits only it
/// reads, made by the f32 logits GEMM of moe-decompose (`out_in` router
/// weight, zero-filled f32 destination), becomes one moe.fused_router (where
/// `accept`, if given, agrees).
void populateRouterFusionPatterns(RewritePatternSet &patterns,
                                  RouterFusionFilter accept = nullptr);
/// The inverse, for targets without the fused kernel: moe.fused_router on
/// tensors becomes the logits GEMM and moe.router again (except where
/// `keep`, if given, says the target runs it as it is).
void populateRouterUnfusionPatterns(RewritePatternSet &patterns,
                                    RouterFusionFilter keep = nullptr);
/// Whether `init` is a linalg.fill of +0.0 (a GEMM destination that the
/// GEMM's sums may overwrite instead of adding to).
bool isPositiveZeroFill(Value init);

/// logits[T, E] = tokens · router (f32 linalg matmul), reading `router` as
/// [H, E] (`in_out`) or [E, H] (`out_in`); moe-decompose and moe-shard.
Value buildRouterLogits(OpBuilder &builder, Location loc, Value tokens,
                        Value router, WeightLayout layout);

#define GEN_PASS_REGISTRATION
#include "moe/Transforms/Passes.h.inc"

} // namespace moe
} // namespace mlir

#endif // MOE_TRANSFORMS_PASSES_H
