//===- GroupedMatmulToLinalg.cpp - convert-grouped-matmul-to-linalg --------===//
//
// moe.grouped_matmul on tensors -> a loop over experts of linalg matmuls, so
// that the tensor-core forms of convert-moe-to-parallel-linalg run on the CPU
// (moe-cpu-pipeline{parallel-forms=true tensor-cores=true}) and CI checks
// their numerics against the reference without a GPU. It is written from the
// op's documented semantics, not from the GPU kernel: the two agree up to the
// order of the f32 additions.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Conversion/Passes.h"

#include "LoweringBuilder.h"
#include "moe/IR/MoEOps.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTGROUPEDMATMULTOLINALG
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The op's rows of a gather, as many as `init` has.
Value gatherRows(LoweringBuilder &b, Value tokens, Value sources,
                 uint64_t slots, Value init) {
  auto tokensType = cast<RankedTensorType>(tokens.getType());
  auto initType = cast<RankedTensorType>(init.getType());
  auto rowsType = RankedTensorType::get(
      {initType.getDimSize(0), tokensType.getDimSize(1)},
      tokensType.getElementType());
  SmallVector<Value> dynamicSizes;
  if (rowsType.isDynamicDim(0))
    dynamicSizes.push_back(b.dim(init, 0));
  if (rowsType.isDynamicDim(1))
    dynamicSizes.push_back(b.dim(tokens, 1));
  return b.gatherTokenRows(tokens, sources, rowsType, dynamicSizes,
                           b.index(slots));
}

struct GroupedMatmulToLinalg : OpRewritePattern<GroupedMatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getResult())
      return rewriter.notifyMatchFailure(op, "on buffers");
    LoweringBuilder b(op.getLoc(), rewriter);
    Value rows = op.getRows(), offsets = op.getOffsets();
    Value weight = op.getWeight(), gate = op.getGate(), init = op.getInit();
    if (Value sources = op.getSources())
      rows = gatherRows(b, rows, sources, *op.getSlots(), init);
    auto rowsType = cast<RankedTensorType>(rows.getType());
    Type outElement = cast<RankedTensorType>(init.getType()).getElementType();
    Activation activation =
        gate ? *op.getActivation() : Activation::silu; // unused when plain
    OpFoldResult reduction = tensor::getMixedSize(b, b.getLoc(), rows, 1);
    OpFoldResult columns = tensor::getMixedSize(b, b.getLoc(), init, 1);
    auto sliceType = RankedTensorType::get(
        {ShapedType::kDynamic, rowsType.getDimSize(1)},
        rowsType.getElementType());

    // The loop carries `init`: rows no expert owns keep it.
    Value result = b.forEachExpertRun(offsets, b.dim(weight, 0), init,
        [&](LoweringBuilder &b, Value e, Value start, Value count,
            Value current) -> Value {
          SmallVector<OpFoldResult> strides = {b.getIndexAttr(1),
                                               b.getIndexAttr(1)};
          SmallVector<OpFoldResult> at = {start, b.getIndexAttr(0)};
          Value expertRows = tensor::ExtractSliceOp::create(
              b, sliceType, rows, at,
              SmallVector<OpFoldResult>{count, reduction}, strides);
          // weight[e] is [N, K]: rows · weight[e]^T, f32 accumulation.
          Value sums = b.matmulF32(expertRows, b.leadingSlice(weight, e),
                                   /*transposeRhs=*/true);
          if (gate) {
            Value gateSums = b.matmulF32(expertRows, b.leadingSlice(gate, e),
                                         /*transposeRhs=*/true);
            Value empty =
                tensor::EmptyOp::create(b, b.sizes(sums), b.getF32Type());
            sums = b.map({gateSums, sums}, empty,
                         [&](LoweringBuilder &b, ValueRange args) {
                           return Value(arith::MulFOp::create(
                               b, b.activation(args[0], activation), args[1]));
                         });
          }
          Value block = b.castElements(sums, outElement);
          return tensor::InsertSliceOp::create(
              b, block, current, at, SmallVector<OpFoldResult>{count, columns},
              strides);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ConvertGroupedMatmulToLinalgPass
    : mlir::moe::impl::ConvertGroupedMatmulToLinalgBase<
          ConvertGroupedMatmulToLinalgPass> {
  void runOnOperation() override {
    // On buffers the op is convert-moe-to-gpu's input; the CPU has no kernel
    // for it, and leaving it would fail later without a location.
    WalkResult onBuffers = getOperation()->walk([&](GroupedMatmulOp op) {
      if (op.getResult())
        return WalkResult::advance();
      op.emitOpError() << "on buffers has no CPU lowering "
                          "(convert-grouped-matmul-to-linalg runs before "
                          "bufferization)";
      return WalkResult::interrupt();
    });
    if (onBuffers.wasInterrupted())
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populateGroupedMatmulToLinalgPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::moe::populateGroupedMatmulToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<GroupedMatmulToLinalg>(patterns.getContext());
}
