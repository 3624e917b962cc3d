//===- Fuse.cpp - moe-fuse ------------------------------------------------===//
//
// The token gather of moe.dispatch folded into the grouped GEMM that reads its
// rows (see the pass description in Passes.td): the GEMM takes the tokens and
// the dispatch's sources, and the permuted copy of the tokens [T·K, H], the
// largest intermediate of a prefill layer after the expert activations,
// is no longer written and read back.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

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

struct MoEFusePass : mlir::moe::impl::MoEFuseBase<MoEFusePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMoEFusePatterns(patterns);
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
