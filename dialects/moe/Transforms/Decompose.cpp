//===- Decompose.cpp - moe-decompose ---------------------------------------===//
//
// moe.layer -> linalg.matmul (router logits) + moe.router + moe.dispatch +
// moe.experts + moe.combine (+ moe.null_experts, moe.shared_experts), and on
// request moe.chain -> one moe.layer per iteration.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEOps.h"
#include "moe/IR/MoEShapes.h"
#include "moe/Transforms/Passes.h"
#include "moeflow/IR/MoEFlowOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEDECOMPOSE
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::buildRouterLogits(OpBuilder &builder, Location loc,
                                   Value tokens, Value router,
                                   WeightLayout layout) {
  bool inOut = layout == WeightLayout::in_out;
  SmallVector<OpFoldResult> sizes = {
      tensor::getMixedSize(builder, loc, tokens, 0),
      tensor::getMixedSize(builder, loc, router, inOut ? 1 : 0)};
  Type f32 = builder.getF32Type();
  Value empty = tensor::EmptyOp::create(builder, loc, sizes, f32);
  Value zero =
      arith::ConstantOp::create(builder, loc, builder.getZeroAttr(f32));
  Value init = linalg::FillOp::create(builder, loc, zero, empty).getResult(0);
  if (inOut)
    return linalg::MatmulOp::create(builder, loc, ValueRange{tokens, router},
                                    ValueRange{init})
        .getResult(0);
  return linalg::MatmulTransposeBOp::create(builder, loc,
                                            ValueRange{tokens, router},
                                            ValueRange{init})
      .getResult(0);
}

namespace {
struct DecomposeLayer : OpRewritePattern<LayerOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LayerOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value tokens = op.getTokens();
    auto tokensType = cast<RankedTensorType>(tokens.getType());
    int64_t numTokens = tokensType.getDimSize(0);
    int64_t hidden = tokensType.getDimSize(1);
    RoutingAttr routing = op.getRouting();
    int64_t topK = routing.getTopK();
    int64_t routedExperts =
        cast<RankedTensorType>(op.getUpWeight().getType()).getDimSize(0);
    if (ShapedType::isDynamic(routedExperts))
      return rewriter.notifyMatchFailure(
          op, "the number of experts must be static to size the offsets");

    // Prefetches by expert of later layers issued just before this one
    // (moe-plan-tiers places them there): moved after this layer's awaits
    // below, so that the copies of the experts its routing adds come first
    // on the copy stream, not behind the later layers' guesses.
    SmallVector<Operation *> laterPrefetches;
    for (Operation *before = op->getPrevNode();
         before && isa<moeflow::PrefetchExpertsOp>(before);
         before = before->getPrevNode())
      if (!llvm::is_contained(before->getUsers(), op.getOperation()))
        laterPrefetches.insert(laterPrefetches.begin(), before);

    Value logits = buildRouterLogits(rewriter, loc, tokens,
                                     op.getRouterWeight(), op.getLayout());
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    auto slotsType = [&](Type element) {
      return RankedTensorType::get({numTokens, topK}, element);
    };
    auto router = RouterOp::create(rewriter, loc, slotsType(f32),
                                   slotsType(i32), logits, op.getBias(),
                                   routing);

    int64_t numRows =
        dispatchRowBound(numTokens, topK, routedExperts, op.getCapacity());
    bool byScore = op.getDropPolicy() == DropPolicy::score;
    auto dispatch = DispatchOp::create(
        rewriter, loc,
        RankedTensorType::get({numRows, hidden}, tokensType.getElementType()),
        RankedTensorType::get({routedExperts + 1}, i32),
        RankedTensorType::get({numRows}, i32), tokens, router.getIndices(),
        byScore ? router.getWeights() : Value(),
        rewriter.getI64IntegerAttr(routedExperts), op.getCapacityAttr(),
        op.getDropPolicyAttr());

    // An expert weight copied by expert (moe-plan-tiers expert-fetch)
    // holds only the predicted experts until the routing completes it.
    Operation *lastAwait = nullptr;
    auto completed = [&](Value weight) -> Value {
      if (!weight || !weight.getDefiningOp<moeflow::PrefetchExpertsOp>())
        return weight;
      lastAwait = moeflow::AwaitExpertsOp::create(
          rewriter, loc, weight.getType(), weight, router.getIndices());
      return lastAwait->getResult(0);
    };
    Value gate = completed(op.getGateWeight());
    Value up = completed(op.getUpWeight());
    Value down = completed(op.getDownWeight());
    if (lastAwait)
      for (Operation *prefetch : llvm::reverse(laterPrefetches))
        rewriter.moveOpAfter(prefetch, lastAwait);
    Value expertOutputs = ExpertsOp::create(
        rewriter, loc, dispatch.getRows().getType(), dispatch.getRows(),
        dispatch.getOffsets(), gate, up, down, op.getActivationAttr(),
        op.getLayoutAttr());
    Value result =
        CombineOp::create(rewriter, loc, tokensType, expertOutputs,
                          dispatch.getSources(), router.getWeights());

    // Zero experts add nothing; only copy and constant experts need an op.
    if (routing.getCopyExperts() + routing.getConstantExperts() > 0) {
      Value nulls = NullExpertsOp::create(
          rewriter, loc, tokensType, tokens, router.getIndices(),
          router.getWeights(), op.getConstantVectors(), op.getConstantMix(),
          routedExperts, routing.getZeroExperts(), routing.getCopyExperts(),
          routing.getConstantExperts());
      result = arith::AddFOp::create(rewriter, loc, result, nulls);
    }
    if (op.getSharedUpWeight()) {
      Value shared = SharedExpertsOp::create(
          rewriter, loc, tokensType, tokens, op.getSharedGateWeight(),
          op.getSharedUpWeight(), op.getSharedDownWeight(),
          op.getSharedSigmoidGate(), op.getActivationAttr(),
          op.getLayoutAttr());
      result = arith::AddFOp::create(rewriter, loc, result, shared);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ExpandChain : OpRewritePattern<ChainOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ChainOp op,
                                PatternRewriter &rewriter) const override {
    Value state = op.getTokens();
    int64_t iterations = op.getIterationsAttr().getInt();
    for (int64_t iteration = 0; iteration < iterations; ++iteration)
      state = op.buildIteration(rewriter, iteration, state);
    rewriter.replaceOp(op, state);
    return success();
  }
};

struct MoEDecomposePass
    : mlir::moe::impl::MoEDecomposeBase<MoEDecomposePass> {
  using MoEDecomposeBase::MoEDecomposeBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMoEDecomposePatterns(patterns, expandChains);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns)))) {
      getOperation()->emitError()
          << "moe-decompose did not converge";
      return signalPassFailure();
    }
    // A layer left behind could not be decomposed: say which and why.
    WalkResult leftover = getOperation()->walk([&](LayerOp layer) {
      layer.emitError() << "moe-decompose cannot expand this layer: the number "
                           "of routed experts must be static";
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace

void mlir::moe::populateMoEDecomposePatterns(RewritePatternSet &patterns,
                                             bool expandChains) {
  patterns.add<DecomposeLayer>(patterns.getContext());
  if (expandChains)
    patterns.add<ExpandChain>(patterns.getContext());
}
