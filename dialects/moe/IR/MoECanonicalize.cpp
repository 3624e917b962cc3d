//===- MoECanonicalize.cpp - moe canonicalization patterns ----------------===//
//
// Rewrites that a compiler engineer expects `-canonicalize` to do on MoE IR:
// options that cannot change a result are dropped, a one-iteration chain is a
// layer plus its residual, and null experts that can only contribute zero are
// removed. Tests: test/Dialect/MoE/canonicalize.mlir.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEOps.h"
#include "moe/IR/MoEShapes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;

//===----------------------------------------------------------------------===//
// Routing simplification (router, layer, chain)
//===----------------------------------------------------------------------===//

/// Returns `routing` without options that cannot change its result for
/// `numExperts` logit columns, or null when there is nothing to drop:
/// * group-limited selection that keeps every group is plain top-K;
/// * renormalising a softmax over all E experts (K = E, no top-p) divides by
///   a sum that is already 1: the router is a dense softmax mixture.
static RoutingAttr simplifyRouting(RoutingAttr routing, int64_t numExperts) {
  bool changed = false;
  int64_t numGroups = routing.getNumGroups();
  std::optional<int64_t> keptGroups = routing.getKeptGroups();
  GroupScore groupScore = routing.getGroupScore();
  if (!routing.isGroupLimited() &&
      (numGroups != 1 || keptGroups || groupScore != GroupScore::top2_sum)) {
    numGroups = 1;
    keptGroups = std::nullopt;
    groupScore = GroupScore::top2_sum;
    changed = true;
  }
  bool renormalize = routing.getRenormalize();
  if (renormalize && routing.getScoring() == Scoring::softmax &&
      !routing.getTopP() && !ShapedType::isDynamic(numExperts) &&
      routing.getTopK() == numExperts) {
    renormalize = false;
    changed = true;
  }
  if (!changed)
    return {};
  return RoutingAttr::get(
      routing.getContext(), routing.getScoring(), routing.getTopK(),
      renormalize, routing.getScalingFactor(), numGroups, keptGroups,
      groupScore, routing.getTopP(), routing.getZeroExperts(),
      routing.getCopyExperts(), routing.getConstantExperts());
}

/// Logit columns (experts, null ones included) of each routing op.
static int64_t numRouterExperts(RouterOp op) {
  return op.getLogits().getType().getDimSize(1);
}
template <typename BlockOp>
static int64_t numRouterExperts(BlockOp op) {
  auto type = cast<RankedTensorType>(op.getRouterWeight().getType());
  unsigned lead = type.getRank() - 2;
  return type.getDimSize(op.getLayout() == WeightLayout::in_out ? lead + 1
                                                                : lead);
}

namespace {
template <typename OpTy>
struct SimplifyRouting : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    RoutingAttr simplified =
        simplifyRouting(op.getRouting(), numRouterExperts(op));
    if (!simplified)
      return rewriter.notifyMatchFailure(op, "routing is already minimal");
    rewriter.modifyOpInPlace(op, [&] { op.setRoutingAttr(simplified); });
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Capacity that can never be reached
//===----------------------------------------------------------------------===//

/// Top-k slots of one token name distinct experts, so an expert receives at
/// most T rows: a capacity of at least T never drops anything.
static bool capacityIsUnreachable(std::optional<uint64_t> capacity,
                                  Value tokens) {
  int64_t numTokens = cast<RankedTensorType>(tokens.getType()).getDimSize(0);
  return capacity && !ShapedType::isDynamic(numTokens) &&
         static_cast<int64_t>(*capacity) >= numTokens;
}

struct DispatchDropUnreachableCapacity : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    if (!capacityIsUnreachable(op.getCapacity(), op.getTokens()))
      return rewriter.notifyMatchFailure(op, "capacity may drop rows");
    // Dropless dispatch has R = T*K rows. With null experts K may exceed the
    // routed E, and then E*C < T*K is possible even though nothing is dropped:
    // the capacity still bounds the row count, so it has to stay.
    auto indicesType = op.getIndices().getType();
    int64_t droplessRows = dispatchRowBound(indicesType.getDimSize(0),
                                            indicesType.getDimSize(1),
                                            op.getNumExperts(), std::nullopt);
    if (op.getRows().getType().getDimSize(0) != droplessRows)
      return rewriter.notifyMatchFailure(op, "capacity bounds the row count");
    rewriter.replaceOpWithNewOp<DispatchOp>(
        op, op->getResultTypes(), op.getTokens(), op.getIndices(),
        /*weights=*/Value(), op.getNumExpertsAttr(), /*capacity=*/IntegerAttr(),
        /*drop_policy=*/DropPolicyAttr());
    return success();
  }
};

struct LayerDropUnreachableCapacity : OpRewritePattern<LayerOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerOp op,
                                PatternRewriter &rewriter) const override {
    if (!capacityIsUnreachable(op.getCapacity(), op.getTokens()))
      return rewriter.notifyMatchFailure(op, "capacity may drop rows");
    rewriter.modifyOpInPlace(op, [&] {
      op.removeCapacityAttr();
      op.removeDropPolicyAttr();
    });
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Null experts that only contribute zero
//===----------------------------------------------------------------------===//

/// Zero experts take router slots but add nothing: a `moe.null_experts` with
/// neither copy nor constant experts is dropped from the sums it feeds, and any
/// other use sees a zero tensor.
struct RemoveZeroOnlyNullExperts : OpRewritePattern<NullExpertsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(NullExpertsOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getCopy() != 0 || op.getConstant() != 0)
      return rewriter.notifyMatchFailure(op, "copy/constant experts add data");
    Value zeros = op.getResult();
    for (OpOperand &use : llvm::make_early_inc_range(zeros.getUses())) {
      auto add = dyn_cast<arith::AddFOp>(use.getOwner());
      if (!add)
        continue;
      Value other = add.getOperand(1 - use.getOperandNumber());
      rewriter.replaceOp(add, other);
    }
    if (zeros.use_empty()) {
      rewriter.eraseOp(op);
      return success();
    }
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(zeros.getType());
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, op.getTokens());
    Value empty = tensor::EmptyOp::create(rewriter, loc, sizes,
                                          type.getElementType());
    Value zero = arith::ConstantOp::create(
        rewriter, loc, rewriter.getZeroAttr(type.getElementType()));
    rewriter.replaceOpWithNewOp<linalg::FillOp>(op, zero, empty);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Chain with one iteration
//===----------------------------------------------------------------------===//

struct SingleIterationChainToLayer : OpRewritePattern<ChainOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ChainOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getIterations() != 1)
      return rewriter.notifyMatchFailure(op, "more than one iteration");
    rewriter.replaceOp(op, op.buildIteration(rewriter, 0, op.getTokens()));
    return success();
  }
};
} // namespace

/// Slice `index` of the leading dimension of `value`, with that dimension
/// dropped: [C, a, b] -> [a, b].
static Value sliceLeading(OpBuilder &builder, Location loc, Value value,
                          int64_t index) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), builder.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), builder.getIndexAttr(1));
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(builder, loc, value);
  offsets[0] = builder.getIndexAttr(index);
  sizes[0] = builder.getIndexAttr(1);
  auto sliceType = RankedTensorType::get(type.getShape().drop_front(),
                                         type.getElementType());
  return tensor::ExtractSliceOp::create(builder, loc, sliceType, value, offsets,
                                        sizes, strides);
}

Value ChainOp::buildIteration(OpBuilder &builder, int64_t iteration,
                              Value input) {
  Location loc = getLoc();
  Value router = sliceLeading(builder, loc, getRouterWeight(), iteration);
  Value bias =
      getBias() ? sliceLeading(builder, loc, getBias(), iteration) : Value();
  Value update = LayerOp::create(
      builder, loc, input.getType(), input, router, bias, getGateWeight(),
      getUpWeight(), getDownWeight(), getSharedGateWeight(),
      getSharedUpWeight(), getSharedDownWeight(), getSharedSigmoidGate(),
      getConstantVectors(), getConstantMix(), getRoutingAttr(),
      getActivationAttr(), getLayoutAttr(), /*capacity=*/IntegerAttr(),
      /*drop_policy=*/DropPolicyAttr(), /*parallel=*/ParallelAttr(),
      /*weights_tier=*/TierAttr());
  return arith::AddFOp::create(builder, loc, input, update);
}

void RouterOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                           MLIRContext *context) {
  results.add<SimplifyRouting<RouterOp>>(context);
}

void DispatchOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                             MLIRContext *context) {
  results.add<DispatchDropUnreachableCapacity>(context);
}

void NullExpertsOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                MLIRContext *context) {
  results.add<RemoveZeroOnlyNullExperts>(context);
}

void LayerOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<SimplifyRouting<LayerOp>, LayerDropUnreachableCapacity>(context);
}

void ChainOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<SimplifyRouting<ChainOp>, SingleIterationChainToLayer>(context);
}
