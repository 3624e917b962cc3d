//===- WarpRouter.h - scoring and top-k of one token by one warp -*- C++ -*-===//
//
// The routing of one token by a whole warp (lane l holds experts
// l*c .. l*c+c-1, c = ceil(E/32), in registers; every reduction over experts
// is a butterfly of gpu.shuffle xor), shared by the router kernel of
// convert-moe-router-to-gpu and the fused router kernel of
// convert-moe-to-gpu. WarpRouter.cpp's file comment says why selection is
// exactly the CPU lowering's.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_WARPROUTER_H
#define MOE_LIB_CONVERSION_MOETOGPU_WARPROUTER_H

#include "LoweringBuilder.h"
#include "moe/IR/MoEAttrs.h"

#include <string>

namespace mlir::moe {

/// Why a warp cannot route tokens over `experts` experts with `routing`
/// (E dynamic or above 512, top-k above 32, groups that do not fall on a
/// power of two of whole lanes), or an empty string.
std::string warpRoutingUnsupportedReason(int64_t experts, RoutingAttr routing);

/// Emits, where every lane of a warp runs it (`lane`: 0..31 as index), the
/// routing of token `token`: lane l reads the logits of its experts through
/// `loadLogit(column)` (an f32; columns past E are clamped to E - 1 and then
/// ignored), adds `bias` (a [E] buffer, or null) for selection, and lane 0
/// writes the token's K weights and expert indices into row `token` of the
/// [T, K] buffers `weights` and `indices`.
void emitWarpRouting(LoweringBuilder &b, RoutingAttr routing, int64_t experts,
                     Value lane, Value token,
                     function_ref<Value(Value column)> loadLogit, Value bias,
                     Value weights, Value indices);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOGPU_WARPROUTER_H
