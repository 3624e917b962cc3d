//===- Combine.cpp - moe.combine, moe.null_experts -> linalg/scf ----------===//
//
// Both are weighted scatter-adds into an f32 [T, H] accumulator, one token row
// at a time (a linalg.generic over the row), narrowed to the result type last.
// combine:      out[t] += w[t, k] * expert_outputs[r]   for sources[r] = t*K+k
// null_experts: out[t] += w[t, k] * f(x_t)              for null slots (t, k)
//
//===----------------------------------------------------------------------===//

#include "LoweringBuilder.h"
#include "Patterns.h"

#include "moe/IR/MoEOps.h"

using namespace mlir;
using namespace mlir::moe;

/// An f32 [rows, cols] accumulator of zeros sized like dims of two tensors.
static Value zeroAccumulator(LoweringBuilder &b, Value rowsFrom, int64_t rowsDim,
                             Value colsFrom, int64_t colsDim) {
  SmallVector<OpFoldResult> shape = {
      tensor::getMixedSize(b, b.getLoc(), rowsFrom, rowsDim),
      tensor::getMixedSize(b, b.getLoc(), colsFrom, colsDim)};
  return b.filled(shape, b.getF32Type(), 0.0);
}

namespace {

struct LowerCombine : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value outputs = op.getExpertOutputs(), sources = op.getSources();
    Value weights = op.getWeights();
    Value zero = b.index(0);
    Value topK = b.dim(weights, 1);

    Value acc = zeroAccumulator(b, weights, 0, outputs, 1);
    acc = b.forLoop(zero, b.dim(outputs, 0), {acc},
        [&](LoweringBuilder &b, Value r, ValueRange state) -> SmallVector<Value> {
          Value source = b.toIndex(b.extract(sources, {r}));
          Value used =
              arith::CmpIOp::create(b, arith::CmpIPredicate::sge, source, zero);
          return b.ifElse(used,
              [&](LoweringBuilder &b) -> SmallVector<Value> {
                Value t = arith::DivUIOp::create(b, source, topK);
                Value k = arith::RemUIOp::create(b, source, topK);
                Value weight = b.toF32(b.extract(weights, {t, k}));
                return {b.addScaledRow(state[0], t, b.rowSlice(outputs, r),
                                     weight)};
              },
              [&](LoweringBuilder &) -> SmallVector<Value> { return {state[0]}; });
        })[0];
    rewriter.replaceOp(
        op, b.castElements(acc, op.getResult().getType().getElementType()));
    return success();
  }
};

struct LowerNullExperts : OpRewritePattern<NullExpertsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(NullExpertsOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value tokens = op.getTokens(), indices = op.getIndices();
    Value weights = op.getWeights();
    Value vectors = op.getConstantVectors(), mix = op.getConstantMix();
    int64_t first = op.getFirst(), zeroCount = op.getZero(),
            copyCount = op.getCopy(), constantCount = op.getConstant();
    Value zero = b.index(0);
    Value hidden = b.dim(tokens, 1);
    Value copyBegin = b.index(first + zeroCount);
    Value constantBegin = b.index(first + zeroCount + copyCount);
    Value constantEnd = b.index(first + zeroCount + copyCount + constantCount);
    auto within = [&](LoweringBuilder &b, Value e, Value lower, Value upper) {
      return arith::AndIOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, e, lower),
          arith::CmpIOp::create(b, arith::CmpIPredicate::slt, e, upper));
    };
    // mix[c, i, :] · x_t in f32.
    auto mixLogit = [&](LoweringBuilder &b, Value c, int64_t i, Value t) {
      return b.forLoop(zero, hidden, {b.f32(0.0)},
          [&](LoweringBuilder &b, Value h, ValueRange sum) -> SmallVector<Value> {
            Value product = arith::MulFOp::create(
                b, b.toF32(b.extract(mix, {c, b.index(i), h})),
                b.toF32(b.extract(tokens, {t, h})));
            return {arith::AddFOp::create(b, sum[0], product)};
          })[0];
    };

    // Tokens are independent: token t adds only into row t.
    Value acc = zeroAccumulator(b, tokens, 0, tokens, 1);
    acc = b.independentForLoop(zero, b.dim(tokens, 0), {acc},
        [&](LoweringBuilder &b, Value t, ValueRange outer) -> SmallVector<Value> {
          return b.forLoop(zero, b.dim(indices, 1), outer,
              [&](LoweringBuilder &b, Value k, ValueRange state)
                  -> SmallVector<Value> {
                Value e = b.toIndex(b.extract(indices, {t, k}));
                Value weight = b.toF32(b.extract(weights, {t, k}));
                Value row = b.rowSlice(tokens, t);
                return b.ifElse(within(b, e, copyBegin, constantBegin),
                    [&](LoweringBuilder &b) -> SmallVector<Value> {
                      return {b.addScaledRow(state[0], t, row, weight)};
                    },
                    [&](LoweringBuilder &b) -> SmallVector<Value> {
                      if (constantCount == 0)
                        return {state[0]};
                      return b.ifElse(within(b, e, constantBegin, constantEnd),
                          [&](LoweringBuilder &b) -> SmallVector<Value> {
                            // α = softmax(mix_c · x); f = α1 x + α2 v_c.
                            Value c = arith::SubIOp::create(b, e, constantBegin);
                            Value a1 = mixLogit(b, c, 0, t);
                            Value a2 = mixLogit(b, c, 1, t);
                            Value m = arith::MaximumFOp::create(b, a1, a2);
                            Value e1 = math::ExpOp::create(
                                b, arith::SubFOp::create(b, a1, m));
                            Value e2 = math::ExpOp::create(
                                b, arith::SubFOp::create(b, a2, m));
                            Value total = arith::AddFOp::create(b, e1, e2);
                            Value alpha1 = arith::DivFOp::create(b, e1, total);
                            Value alpha2 = arith::DivFOp::create(b, e2, total);
                            Value accRow = b.rowSlice(state[0], t);
                            Value updated = b.map(
                                {row, b.rowSlice(vectors, c)}, accRow,
                                [&](LoweringBuilder &b, ValueRange args) -> Value {
                                  Value mixed = arith::AddFOp::create(
                                      b,
                                      arith::MulFOp::create(b, alpha1,
                                                            b.toF32(args[0])),
                                      arith::MulFOp::create(b, alpha2,
                                                            b.toF32(args[1])));
                                  return arith::AddFOp::create(
                                      b, args[2],
                                      arith::MulFOp::create(b, weight, mixed));
                                });
                            return {b.insertRow(updated, state[0], t)};
                          },
                          [&](LoweringBuilder &) -> SmallVector<Value> {
                            return {state[0]};
                          });
                    });
              });
        })[0];
    rewriter.replaceOp(
        op, b.castElements(acc, op.getResult().getType().getElementType()));
    return success();
  }
};
} // namespace

void mlir::moe::populateCombineLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerCombine, LowerNullExperts>(patterns.getContext());
}
