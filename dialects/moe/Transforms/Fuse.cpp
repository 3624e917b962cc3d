//===- Fuse.cpp - moe-fuse ------------------------------------------------===//
//
// The fusions of moe-fuse (see the pass description in Passes.td):
// * the token gather of moe.dispatch folded into the grouped GEMM that reads
//   its rows: the GEMM takes the tokens and the dispatch's sources, and the
//   permuted copy of the tokens [T·K, H], the largest intermediate of a
//   prefill layer after the expert activations, is no longer written and
//   read back;
// * the router logits GEMM and moe.router as one moe.fused_router, and its
//   inverse for targets that have no kernel for it.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSE
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

struct GatherIntoGroupedMatmul : OpRewritePattern<GroupedMatmulOp> {
  GatherIntoGroupedMatmul(MLIRContext *context, GatherFusionFilter accept)
      : OpRewritePattern(context), accept(std::move(accept)) {}

  LogicalResult matchAndRewrite(GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getResult() || op.getSources())
      return rewriter.notifyMatchFailure(op, "on buffers or gathered already");
    if (accept && !accept(op))
      return rewriter.notifyMatchFailure(op, "the target keeps this gather");
    auto rows = dyn_cast<OpResult>(op.getRows());
    auto dispatch = rows ? dyn_cast<DispatchOp>(rows.getOwner()) : DispatchOp();
    if (!dispatch || rows != dispatch.getRows())
      return rewriter.notifyMatchFailure(op, "rows not from moe.dispatch");
    // The slots per token must be known to the kernel.
    int64_t slots = dispatch.getIndices().getType().getDimSize(1);
    if (ShapedType::isDynamic(slots))
      return rewriter.notifyMatchFailure(op, "dynamic top-k");
    rewriter.replaceOpWithNewOp<GroupedMatmulOp>(
        op, op.getResult().getType(), dispatch.getTokens(),
        dispatch.getSources(), op.getOffsets(), op.getWeight(), op.getGate(),
        op.getInit(), rewriter.getI64IntegerAttr(slots),
        op.getActivationAttr());
    return success();
  }

  GatherFusionFilter accept;
};

/// logits = linalg.matmul_transpose_b(x, W_r, fill(0.0 : f32)) read only by
/// `w, i = moe.router logits` -> `w, i = moe.fused_router x weight W_r`.
struct LogitsIntoRouter : OpRewritePattern<RouterOp> {
  LogitsIntoRouter(MLIRContext *context, RouterFusionFilter accept)
      : OpRewritePattern(context, /*benefit=*/2), accept(std::move(accept)) {}

  LogicalResult matchAndRewrite(RouterOp op,
                                PatternRewriter &rewriter) const override {
    Value logits = op.getLogits();
    auto matmul = logits.getDefiningOp<linalg::MatmulOp>();
    if (!matmul || !isa<linalg::MatmulTransposeBOp>(matmul.getOperation()))
      return rewriter.notifyMatchFailure(op, "logits not from an out_in GEMM");
    if (!logits.hasOneUse())
      return rewriter.notifyMatchFailure(op, "the logits have other readers");
    if (!matmul.hasPureTensorSemantics() || matmul.getNumDpsInputs() != 2 ||
        matmul.getCast() != linalg::TypeFn::cast_signed ||
        !isPositiveZeroFill(matmul.getDpsInits()[0]) ||
        !cast<ShapedType>(logits.getType()).getElementType().isF32())
      return rewriter.notifyMatchFailure(
          op, "not an f32 logits GEMM into zeros on tensors");
    Value tokens = matmul.getDpsInputs()[0], weight = matmul.getDpsInputs()[1];
    if (getElementTypeOrSelf(tokens) != getElementTypeOrSelf(weight))
      return rewriter.notifyMatchFailure(op, "mixed operand types");
    if (accept && !accept(op, tokens, weight, op.getRouting()))
      return rewriter.notifyMatchFailure(op, "the target keeps them apart");
    Location loc = op.getLoc();
    // Destinations [T, K]: T from the tokens where it is dynamic.
    RankedTensorType weightsType = op.getWeights().getType();
    RankedTensorType indicesType = op.getIndices().getType();
    SmallVector<Value> dynamic;
    if (weightsType.isDynamicDim(0))
      dynamic.push_back(tensor::DimOp::create(rewriter, loc, tokens, 0));
    auto emptyOf = [&](RankedTensorType type) -> Value {
      return tensor::EmptyOp::create(rewriter, loc, type, dynamic);
    };
    rewriter.replaceOpWithNewOp<FusedRouterOp>(
        op, TypeRange{weightsType, indicesType}, tokens, weight, op.getBias(),
        emptyOf(weightsType), emptyOf(indicesType), op.getRoutingAttr());
    rewriter.eraseOp(matmul);
    return success();
  }

  RouterFusionFilter accept;
};

/// moe.fused_router on tensors -> the logits GEMM and moe.router.
struct UnfuseRouter : OpRewritePattern<FusedRouterOp> {
  UnfuseRouter(MLIRContext *context, RouterFusionFilter keep)
      : OpRewritePattern(context), keep(std::move(keep)) {}

  LogicalResult matchAndRewrite(FusedRouterOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getResults().empty())
      return rewriter.notifyMatchFailure(op, "on buffers");
    if (keep && keep(op, op.getTokens(), op.getWeight(), op.getRouting()))
      return rewriter.notifyMatchFailure(op, "the target runs it fused");
    Value logits = buildRouterLogits(rewriter, op.getLoc(), op.getTokens(),
                                     op.getWeight(), WeightLayout::out_in);
    rewriter.replaceOpWithNewOp<RouterOp>(
        op, op.getResults()[0].getType(), op.getResults()[1].getType(), logits,
        op.getBias(), op.getRoutingAttr());
    return success();
  }

  RouterFusionFilter keep;
};

struct MoEFusePass : mlir::moe::impl::MoEFuseBase<MoEFusePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMoEFusePatterns(patterns);
    populateRouterFusionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::moe::populateMoEFusePatterns(RewritePatternSet &patterns,
                                        GatherFusionFilter accept) {
  patterns.add<GatherIntoGroupedMatmul>(patterns.getContext(),
                                        std::move(accept));
}

void mlir::moe::populateRouterFusionPatterns(RewritePatternSet &patterns,
                                             RouterFusionFilter accept) {
  patterns.add<LogitsIntoRouter>(patterns.getContext(), std::move(accept));
}

void mlir::moe::populateRouterUnfusionPatterns(RewritePatternSet &patterns,
                                               RouterFusionFilter keep) {
  patterns.add<UnfuseRouter>(patterns.getContext(), std::move(keep));
}

bool mlir::moe::isPositiveZeroFill(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  auto constant = fill.getInputs()[0].getDefiningOp<arith::ConstantOp>();
  auto value = constant ? dyn_cast<FloatAttr>(constant.getValue()) : FloatAttr();
  return value && value.getValue().isPosZero();
}
