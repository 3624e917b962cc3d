//===- Experts.cpp - moe.experts, moe.shared_experts -> linalg/scf --------===//
//
// moe.experts: one scf.for over experts; expert e's rows are the dynamic slice
// rows[offsets[e], offsets[e+1]) and go through the FFN (linalg.matmul with f32
// accumulation, activation in a linalg.generic). Experts without rows are
// skipped; rows past offsets[E] stay 0.
// moe.shared_experts: the same FFN over all tokens, then the optional
// sigmoid(x·g) gate per token.
//
//===----------------------------------------------------------------------===//

#include "LoweringBuilder.h"
#include "Patterns.h"

#include "moe/IR/MoEOps.h"

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

struct LowerExperts : OpRewritePattern<ExpertsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ExpertsOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value rows = op.getRows(), offsets = op.getOffsets();
    Value gate = op.getGateWeight(), up = op.getUpWeight(),
          down = op.getDownWeight();
    auto rowsType = op.getRows().getType();

    SmallVector<Value> dynamicRows;
    if (rowsType.isDynamicDim(0))
      dynamicRows.push_back(b.dim(rows, 0));
    Value result = b.filled(rowsType, dynamicRows, 0.0);
    OpFoldResult hidden = tensor::getMixedSize(b, b.getLoc(), rows, 1);
    auto sliceType = RankedTensorType::get(
        {ShapedType::kDynamic, rowsType.getDimSize(1)},
        rowsType.getElementType());

    result = b.forEachExpertRun(offsets, b.dim(up, 0), result,
        [&](LoweringBuilder &b, Value e, Value start, Value count,
            Value current) -> Value {
          SmallVector<OpFoldResult> sliceOffsets = {start, b.getIndexAttr(0)};
          SmallVector<OpFoldResult> sliceSizes = {count, hidden};
          SmallVector<OpFoldResult> strides = {b.getIndexAttr(1),
                                               b.getIndexAttr(1)};
          Value expertRows = tensor::ExtractSliceOp::create(
              b, sliceType, rows, sliceOffsets, sliceSizes, strides);
          Value output = b.ffn(expertRows, gate ? b.leadingSlice(gate, e) : Value(),
                               b.leadingSlice(up, e), b.leadingSlice(down, e),
                               op.getActivation(), op.getLayout());
          return tensor::InsertSliceOp::create(b, output, current, sliceOffsets,
                                               sliceSizes, strides);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LowerSharedExperts : OpRewritePattern<SharedExpertsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SharedExpertsOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value tokens = op.getTokens();
    Value output = b.ffn(tokens, op.getGateWeight(), op.getUpWeight(),
                         op.getDownWeight(), op.getActivation(), op.getLayout());
    if (Value gateWeight = op.getSigmoidGate())
      output = b.scaleRowsBySigmoidGate(tokens, output, gateWeight);
    rewriter.replaceOp(op, output);
    return success();
  }
};
} // namespace

void mlir::moe::populateExpertsLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerExperts, LowerSharedExperts>(patterns.getContext());
}
