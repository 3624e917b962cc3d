//===- GroupedExperts.cpp - moe.experts as two grouped GEMMs --------------===//
//
// Where the expert FFN fits the tensor-core kernel of convert-moe-to-gpu
// (16-bit floats, out_in weights, gated activation, static sizes that the
// tiles divide), moe.experts becomes
//
//   h = moe.grouped_matmul rows weight up gate gate activation act  (init 0)
//   y = moe.grouped_matmul h weight down                            (init 0)
//
// so that SwiGLU happens in the first GEMM's epilogue: the gate and up
// projections never reach memory, only h [R, F] does. Rows past offsets[E]
// keep the zero init, as moe.experts requires. Everything else keeps the
// per-element forms of ExpertForms.cpp.
//
//===----------------------------------------------------------------------===//

#include "Forms.h"

#include "LoweringBuilder.h"
#include "moe/Conversion/MoEToGPU/GroupedMatmulTiles.h"
#include "moe/IR/MoEOps.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

struct ExpertsToGroupedMatmuls : OpRewritePattern<ExpertsOp> {
  ExpertsToGroupedMatmuls(MLIRContext *context)
      : OpRewritePattern(context, kGroupedMatmulBenefit) {}

  LogicalResult matchAndRewrite(ExpertsOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getGateWeight() || op.getLayout() != WeightLayout::out_in)
      return rewriter.notifyMatchFailure(op, "needs gated out_in weights");
    auto rowsType = op.getRows().getType();
    auto upType = op.getUpWeight().getType();
    auto downType = op.getDownWeight().getType();
    if (!rowsType.hasStaticShape() || !upType.hasStaticShape() ||
        !downType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic sizes");
    int64_t rows = rowsType.getDimSize(0), hidden = rowsType.getDimSize(1);
    int64_t intermediate = upType.getDimSize(1);
    Type element = rowsType.getElementType();
    // Full column tiles only: expert GEMMs never spend wgmma work on masked
    // columns (the kernel would take any N without a gate).
    if (failed(chooseGroupedMatmulTiles(element, rows, intermediate, hidden,
                                        /*gated=*/true,
                                        GroupedMatmulColumns::Divisible)) ||
        failed(chooseGroupedMatmulTiles(element, rows, hidden, intermediate,
                                        /*gated=*/false,
                                        GroupedMatmulColumns::Divisible)))
      return rewriter.notifyMatchFailure(op, "no tensor-core tiling");

    LoweringBuilder b(op.getLoc(), rewriter);
    auto hiddenType = RankedTensorType::get({rows, intermediate}, element);
    Value hiddenInit = b.filled(hiddenType, {}, 0.0);
    Value h = GroupedMatmulOp::create(
                  b, hiddenType, op.getRows(), /*sources=*/Value(),
                  op.getOffsets(), op.getUpWeight(), op.getGateWeight(),
                  hiddenInit, IntegerAttr(), op.getActivationAttr())
                  .getResult();
    Value outInit = b.filled(rowsType, {}, 0.0);
    Value y = GroupedMatmulOp::create(b, rowsType, h, /*sources=*/Value(),
                                      op.getOffsets(), op.getDownWeight(),
                                      /*gate=*/Value(), outInit, IntegerAttr(),
                                      ActivationAttr())
                  .getResult();
    rewriter.replaceOp(op, y);
    return success();
  }
};
} // namespace

void mlir::moe::populateGroupedMatmulPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpertsToGroupedMatmuls>(patterns.getContext());
}
