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
// A chain iteration's router is the leading slice W[i] of the chain's
// [C, E, H] router weights (moe.chain's expansion). A slice would be a view
// at an offset, which the kernel's TMA cannot take; instead the GEMM takes
// the whole [C, E, H] weight as C groups with every token in group i
// (offsets [0 x (i+1), T x (C-i)]): the other groups are empty.
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

/// The router weight as the grouped GEMM's [G, E, H] weight and the group
/// that holds every token.
struct GroupedRouterWeight {
  Value weight;
  int64_t group = 0;
};

/// `weight` [E, H] as one group, or, when it is the leading slice W[i] of an
/// unsliced [C, E, H] tensor (static offsets [i, 0, 0], sizes [1, E, H],
/// unit strides), that tensor with group i. Other slices are strided views:
/// failure.
FailureOr<GroupedRouterWeight> groupRouterWeight(OpBuilder &b, Location loc,
                                                 Value weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  auto slice = weight.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice) {
    auto groupedType = RankedTensorType::get(
        {1, type.getDimSize(0), type.getDimSize(1)}, type.getElementType());
    Value grouped = tensor::ExpandShapeOp::create(
        b, loc, groupedType, weight,
        SmallVector<ReassociationIndices>{{0, 1}, {2}});
    return GroupedRouterWeight{grouped, 0};
  }
  Value source = slice.getSource();
  auto sourceType = cast<RankedTensorType>(source.getType());
  if (source.getDefiningOp<tensor::ExtractSliceOp>() ||
      sourceType.getRank() != 3 || !sourceType.hasStaticShape() ||
      sourceType.getShape().drop_front() != type.getShape())
    return failure();
  ArrayRef<int64_t> offsets = slice.getStaticOffsets();
  ArrayRef<int64_t> sizes = slice.getStaticSizes();
  ArrayRef<int64_t> strides = slice.getStaticStrides();
  if (ShapedType::isDynamic(offsets[0]) || offsets[1] != 0 ||
      offsets[2] != 0 || sizes[0] != 1 ||
      sizes.drop_front() != sourceType.getShape().drop_front() ||
      llvm::any_of(strides, [](int64_t stride) { return stride != 1; }))
    return failure();
  return GroupedRouterWeight{source, offsets[0]};
}

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
    if (x.getDefiningOp<tensor::ExtractSliceOp>())
      return rewriter.notifyMatchFailure(op,
                                         "the tokens would be a strided view");
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
    FailureOr<GroupedRouterWeight> grouped =
        groupRouterWeight(rewriter, loc, weight);
    if (failed(grouped))
      return rewriter.notifyMatchFailure(
          op, "the router weight would be a strided view");
    int64_t tokens = xType.getDimSize(0);
    int64_t groups =
        cast<RankedTensorType>(grouped->weight.getType()).getDimSize(0);
    // Group g holds rows [offsets[g], offsets[g + 1]): all T in group i.
    SmallVector<int64_t> bounds(groups + 1, 0);
    for (int64_t g = grouped->group + 1; g <= groups; ++g)
      bounds[g] = tokens;
    auto offsetsType =
        RankedTensorType::get({groups + 1}, rewriter.getI64Type());
    Value offsets = arith::ConstantOp::create(
        rewriter, loc, DenseIntElementsAttr::get(offsetsType, bounds));
    Value logits =
        GroupedMatmulOp::create(rewriter, loc, initType, x,
                                /*sources=*/Value(), offsets, grouped->weight,
                                /*gate=*/Value(), init, IntegerAttr(),
                                ActivationAttr())
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
