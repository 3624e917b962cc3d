//===- GroupedRouterLogits.cpp - router logits as a grouped GEMM ----------===//
//
// The router logits GEMM of moe-decompose / moe-shard,
//
//   logits[T, E] = x[T, H] · W_r[E, H]^T   (linalg.matmul, B transposed,
//                                           f32 zero init, f32 accumulation)
//
// becomes, where the tensor-core kernel of convert-moe-to-gpu takes it
// (chooseRouterLogitsTiles, GroupedMatmulTiles.h, lists the conditions),
//
//   logits = moe.grouped_matmul x, [0, T] weight W_r as [1, E, H]
//            outs(the same f32 zeros)
//
// one group holding every token, so that the GEMM runs on wgmma instead of
// one thread per (token, expert) doing an H-long dot product. The result is
// the same f32 sum up to the order of additions; the router bias is not part
// of the logits (moe.router adds it for selection only).
//
//===----------------------------------------------------------------------===//

#include "Forms.h"

#include "moe/Conversion/MoEToGPU/GroupedMatmulTiles.h"
#include "moe/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

struct RouterLogitsToGroupedMatmul : OpRewritePattern<linalg::MatmulOp> {
  RouterLogitsToGroupedMatmul(MLIRContext *context)
      : OpRewritePattern(context, kGroupedMatmulBenefit) {}

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!isa<linalg::MatmulTransposeBOp>(op.getOperation()))
      return rewriter.notifyMatchFailure(op, "needs B transposed (out_in)");
    if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || op.getCast() != linalg::TypeFn::cast_signed)
      return rewriter.notifyMatchFailure(op, "not a plain matmul on tensors");
    if (!isa<FunctionOpInterface>(op->getParentOp()))
      return rewriter.notifyMatchFailure(op, "not at a function's top level");
    Value x = op.getDpsInputs()[0], weight = op.getDpsInputs()[1];
    Value init = op.getDpsInits()[0];
    if (x.getDefiningOp<tensor::ExtractSliceOp>() ||
        weight.getDefiningOp<tensor::ExtractSliceOp>())
      return rewriter.notifyMatchFailure(op, "operands would be strided views");
    auto xType = cast<RankedTensorType>(x.getType());
    auto weightType = cast<RankedTensorType>(weight.getType());
    auto initType = cast<RankedTensorType>(init.getType());
    if (!initType.getElementType().isF32() || !isPositiveZeroFill(init))
      return rewriter.notifyMatchFailure(op, "needs a zero-filled f32 init");
    if (weightType.getElementType() != xType.getElementType())
      return rewriter.notifyMatchFailure(op, "mixed operand types");
    std::string why;
    if (failed(chooseRouterLogitsTiles(
            xType.getElementType(), xType.getDimSize(0),
            weightType.getDimSize(0), xType.getDimSize(1), &why)))
      return rewriter.notifyMatchFailure(op, why);

    Location loc = op.getLoc();
    int64_t tokens = xType.getDimSize(0);
    auto groupedType = RankedTensorType::get(
        {1, weightType.getDimSize(0), weightType.getDimSize(1)},
        weightType.getElementType());
    Value grouped = tensor::ExpandShapeOp::create(
        rewriter, loc, groupedType, weight,
        SmallVector<ReassociationIndices>{{0, 1}, {2}});
    auto offsetsType = RankedTensorType::get({2}, rewriter.getI64Type());
    Value offsets = arith::ConstantOp::create(
        rewriter, loc,
        DenseIntElementsAttr::get(offsetsType, ArrayRef<int64_t>{0, tokens}));
    Value logits = GroupedMatmulOp::create(rewriter, loc, initType, x,
                                           /*sources=*/Value(), offsets,
                                           grouped, /*gate=*/Value(), init,
                                           IntegerAttr(), ActivationAttr())
                       .getResult();
    rewriter.replaceOp(op, logits);
    return success();
  }
};
} // namespace

void mlir::moe::populateRouterLogitsGroupedMatmulPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RouterLogitsToGroupedMatmul>(patterns.getContext());
}
