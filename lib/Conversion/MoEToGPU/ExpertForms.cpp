//===- ExpertForms.cpp - data-parallel forms of the expert FFNs -----------===//
//
// The GPU path computes every element of an FFN on its own: one
// linalg.generic over (intermediate column, row) for act(x·gate) ⊙ (x·up), one
// over (output column, row) for the down projection, each element a
// sequential f32 dot product. Rows are the inner dimension so that the threads
// of a warp take neighbouring rows of one column: rows are sorted by expert,
// so a warp mostly reads the same weight element (one transaction) instead of
// 32 weight rows. Nothing depends on data for its iteration space:
// moe.experts covers all R sorted rows (static bound) and looks up each row's
// expert from the offsets at run time; rows past offsets[E] are 0. Numerics
// follow the CPU path: f32 accumulation, the intermediate and the result
// narrowed to the rows' element type.
//
// linalg.matmul (router logits, f32 results) gets the same per-element form so
// its accumulator stays in a register instead of read-modify-writing memory.
//
//===----------------------------------------------------------------------===//

#include "Forms.h"

#include "LoweringBuilder.h"
#include "moe/IR/MoEOps.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The expert of a row (null for dense 2-D weights) and whether the row is
/// routed at all (null: always).
struct RowExpert {
  Value expert, valid;
};
using RowExpertFn = function_ref<RowExpert(LoweringBuilder &, Value row)>;

/// Element (i, j) of a weight, [E, X, Y] at expert e, or [X, Y].
Value weightAt(LoweringBuilder &b, Value weight, Value expert, Value i,
               Value j) {
  if (expert)
    return b.extract(weight, {expert, i, j});
  return b.extract(weight, {i, j});
}

/// `compute` where `valid` (or always when null), else a zero of `type`.
Value whereValid(LoweringBuilder &b, Value valid, Type type,
                 function_ref<Value(LoweringBuilder &)> compute) {
  if (!valid)
    return compute(b);
  return b.ifElse(valid,
      [&](LoweringBuilder &b) -> SmallVector<Value> { return {compute(b)}; },
      [&](LoweringBuilder &b) -> SmallVector<Value> {
        return {b.constant(type, 0.0)};
      })[0];
}

/// down(act(gate·x) ⊙ up·x) (or down(act(up·x))) over the rows of `x` [R, H],
/// each element computed on its own. Weights are [E, ...] with `expertOf`
/// naming each row's expert, or 2-D.
Value rowwiseFFN(LoweringBuilder &b, Value x, Value gate, Value up, Value down,
                 Activation activation, WeightLayout layout,
                 RowExpertFn expertOf) {
  auto xType = cast<RankedTensorType>(x.getType());
  auto upType = cast<RankedTensorType>(up.getType());
  auto downType = cast<RankedTensorType>(down.getType());
  Type element = xType.getElementType();
  bool outIn = layout == WeightLayout::out_in;
  // in_out: up [.., H, F], down [.., F, H]; out_in: up [.., F, H], down [.., H, F].
  int64_t upRank = upType.getRank(), downRank = downType.getRank();
  int64_t intermediateDim = outIn ? upRank - 2 : upRank - 1;
  int64_t outputDim = outIn ? downRank - 2 : downRank - 1;
  Value zero = b.index(0);
  Value hiddenSize = b.dim(x, 1);
  Value intermediateSize = b.dim(up, intermediateDim);

  SmallVector<Value> dynamicRows;
  if (xType.isDynamicDim(0))
    dynamicRows.push_back(b.dim(x, 0));
  auto intermediateType = RankedTensorType::get(
      {xType.getDimSize(0), upType.getDimSize(intermediateDim)}, element);
  SmallVector<Value> dynamicIntermediate = dynamicRows;
  if (intermediateType.isDynamicDim(1))
    dynamicIntermediate.push_back(intermediateSize);

  Value intermediate = b.generate(intermediateType, dynamicIntermediate,
      [&](LoweringBuilder &b, ValueRange at) -> Value {
        Value row = at[0], column = at[1];
        RowExpert routed = expertOf(b, row);
        return whereValid(b, routed.valid, element, [&](LoweringBuilder &b) {
          SmallVector<Value> init = {b.f32(0.0)};
          if (gate)
            init.push_back(b.f32(0.0));
          SmallVector<Value> sums = b.forLoop(zero, hiddenSize, init,
              [&](LoweringBuilder &b, Value k, ValueRange acc)
                  -> SmallVector<Value> {
                Value xk = b.toF32(b.extract(x, {row, k}));
                auto project = [&](Value weight, Value sum) -> Value {
                  Value w = outIn ? weightAt(b, weight, routed.expert, column, k)
                                  : weightAt(b, weight, routed.expert, k, column);
                  return arith::AddFOp::create(
                      b, sum, arith::MulFOp::create(b, xk, b.toF32(w)));
                };
                SmallVector<Value> next = {project(up, acc[0])};
                if (gate)
                  next.push_back(project(gate, acc[1]));
                return next;
              });
          Value hidden =
              gate ? Value(arith::MulFOp::create(
                         b, b.activation(sums[1], activation), sums[0]))
                   : b.activation(sums[0], activation);
          return b.fromF32(hidden, element);
        });
      },
      /*rowsInnermost=*/true);

  auto outputType = RankedTensorType::get(
      {xType.getDimSize(0), downType.getDimSize(outputDim)}, element);
  SmallVector<Value> dynamicOutput = dynamicRows;
  if (outputType.isDynamicDim(1))
    dynamicOutput.push_back(b.dim(down, outputDim));
  return b.generate(outputType, dynamicOutput,
      [&](LoweringBuilder &b, ValueRange at) -> Value {
        Value row = at[0], column = at[1];
        RowExpert routed = expertOf(b, row);
        return whereValid(b, routed.valid, element, [&](LoweringBuilder &b) {
          Value sum = b.forLoop(zero, intermediateSize, {b.f32(0.0)},
              [&](LoweringBuilder &b, Value f, ValueRange acc)
                  -> SmallVector<Value> {
                Value h = b.toF32(b.extract(intermediate, {row, f}));
                Value w = outIn ? weightAt(b, down, routed.expert, column, f)
                                : weightAt(b, down, routed.expert, f, column);
                return {arith::AddFOp::create(
                    b, acc[0], arith::MulFOp::create(b, h, b.toF32(w)))};
              })[0];
          return b.fromF32(sum, element);
        });
      },
      /*rowsInnermost=*/true);
}

struct ExpertsToParallelForm : OpRewritePattern<ExpertsOp> {
  ExpertsToParallelForm(MLIRContext *context)
      : OpRewritePattern(context, kParallelFormBenefit) {}

  LogicalResult matchAndRewrite(ExpertsOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value rows = op.getRows(), offsets = op.getOffsets();
    auto rowsType = op.getRows().getType();
    Value numExperts = b.dim(op.getUpWeight(), 0);
    Value zero = b.index(0), one = b.index(1);

    // Expert of each sorted row: the number of experts whose rows end at or
    // before it (E for rows past offsets[E]).
    SmallVector<Value> dynamicRows;
    if (rowsType.isDynamicDim(0))
      dynamicRows.push_back(b.dim(rows, 0));
    auto perRow = RankedTensorType::get({rowsType.getDimSize(0)},
                                        b.getIndexType());
    Value rowExperts = b.generate(perRow, dynamicRows,
        [&](LoweringBuilder &b, ValueRange at) -> Value {
          return b.forLoop(zero, numExperts, {zero},
              [&](LoweringBuilder &b, Value e, ValueRange count)
                  -> SmallVector<Value> {
                Value end = b.toIndex(b.extract(
                    offsets, {arith::AddIOp::create(b, e, one)}));
                Value before = arith::CmpIOp::create(
                    b, arith::CmpIPredicate::ule, end, at[0]);
                return {arith::AddIOp::create(
                    b, count[0], arith::SelectOp::create(b, before, one, zero))};
              })[0];
        });
    auto expertOf = [&](LoweringBuilder &b, Value row) -> RowExpert {
      Value expert = b.extract(rowExperts, {row});
      return {expert, arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                            expert, numExperts)};
    };
    rewriter.replaceOp(op, rowwiseFFN(b, rows, op.getGateWeight(),
                                      op.getUpWeight(), op.getDownWeight(),
                                      op.getActivation(), op.getLayout(),
                                      expertOf));
    return success();
  }
};

struct SharedExpertsToParallelForm : OpRewritePattern<SharedExpertsOp> {
  SharedExpertsToParallelForm(MLIRContext *context)
      : OpRewritePattern(context, kParallelFormBenefit) {}

  LogicalResult matchAndRewrite(SharedExpertsOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value tokens = op.getTokens();
    Value output = rowwiseFFN(
        b, tokens, op.getGateWeight(), op.getUpWeight(), op.getDownWeight(),
        op.getActivation(), op.getLayout(),
        [](LoweringBuilder &, Value) { return RowExpert{}; });
    if (Value gateWeight = op.getSigmoidGate())
      output = b.scaleRowsBySigmoidGate(tokens, output, gateWeight);
    rewriter.replaceOp(op, output);
    return success();
  }
};

/// C[m, n] + Σ_k A[m, k]·B[k, n] (B[n, k] when transposed) per element, for
/// float operands and an f32 result.
template <typename MatmulOpTy, bool transposedB>
struct MatmulToParallelForm : OpRewritePattern<MatmulOpTy> {
  MatmulToParallelForm(MLIRContext *context)
      : OpRewritePattern<MatmulOpTy>(context, kParallelFormBenefit) {}

  LogicalResult matchAndRewrite(MatmulOpTy op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1)
      return failure();
    Value lhs = op.getDpsInputs()[0], rhs = op.getDpsInputs()[1];
    Value init = op.getDpsInits()[0];
    auto resultType = cast<RankedTensorType>(init.getType());
    auto lhsType = cast<RankedTensorType>(lhs.getType());
    auto rhsType = cast<RankedTensorType>(rhs.getType());
    if (!resultType.getElementType().isF32() ||
        !isa<FloatType>(lhsType.getElementType()) ||
        !isa<FloatType>(rhsType.getElementType()) ||
        cast<FloatType>(lhsType.getElementType()).getWidth() > 32 ||
        cast<FloatType>(rhsType.getElementType()).getWidth() > 32)
      return rewriter.notifyMatchFailure(op, "not a float matmul into f32");
    // Default indexing maps only (no user-given transposes or broadcasts).
    if (auto named = dyn_cast<linalg::MatmulOp>(op.getOperation()))
      if (named.hasUserDefinedMaps())
        return rewriter.notifyMatchFailure(op, "user-defined indexing maps");

    LoweringBuilder b(op.getLoc(), rewriter);
    SmallVector<Value> dynamic;
    for (int64_t d = 0; d < 2; ++d)
      if (resultType.isDynamicDim(d))
        dynamic.push_back(b.dim(init, d));
    Value reduction = b.dim(lhs, 1), zero = b.index(0);
    Value result = b.generate(resultType, dynamic,
        [&](LoweringBuilder &b, ValueRange at) -> Value {
          Value start = b.extract(init, {at[0], at[1]});
          return b.forLoop(zero, reduction, {start},
              [&](LoweringBuilder &b, Value k, ValueRange acc)
                  -> SmallVector<Value> {
                Value a = b.toF32(b.extract(lhs, {at[0], k}));
                Value w = b.toF32(transposedB ? b.extract(rhs, {at[1], k})
                                              : b.extract(rhs, {k, at[1]}));
                return {arith::AddFOp::create(b, acc[0],
                                              arith::MulFOp::create(b, a, w))};
              })[0];
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void mlir::moe::populateExpertParallelFormPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpertsToParallelForm, SharedExpertsToParallelForm,
               MatmulToParallelForm<linalg::MatmulOp, false>,
               MatmulToParallelForm<linalg::MatmulTransposeBOp, true>>(
      patterns.getContext());
}
