//===- Router.cpp - moe.router -> scf/tensor/arith ------------------------===//
//
// One scf.for over tokens (independent iterations). Per token, in f32:
//   scores    s[e] = softmax(logits)[e] or sigmoid(logits[e])
//   selection v[e] = s[e] (+ bias[e]); experts outside the kept groups -> -inf
//   slot k    = arg-max of v over experts not yet taken (ties: lower index)
//   top-p     slot k is kept while the kept scores sum below p (slot 0 always);
//             an unused slot holds the first zero expert with weight 0
//   weights   s of the kept experts, / their sum when renormalising, * scale
//
//===----------------------------------------------------------------------===//

#include "LoweringBuilder.h"
#include "Patterns.h"

#include "moe/IR/MoEOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();


/// Sets the selection score of experts outside the `kept` best groups to
/// -inf (group-limited selection, DeepSeek-V2/V3).
Value maskGroups(LoweringBuilder &b, RoutingAttr routing, Value selection,
                 Value numExperts) {
  int64_t numGroups = routing.getNumGroups();
  Value groups = b.index(numGroups);
  Value groupSize = arith::DivUIOp::create(b, numExperts, groups);
  Value zero = b.index(0);
  bool topTwo = routing.getGroupScore() == GroupScore::top2_sum;

  // Group scores: the sum of the two largest members, or the largest.
  Value groupScores = b.filled(ArrayRef<OpFoldResult>{b.getIndexAttr(numGroups)},
                               b.getF32Type(), 0.0);
  groupScores = b.forLoop(zero, groups, {groupScores},
      [&](LoweringBuilder &b, Value g, ValueRange acc) -> SmallVector<Value> {
        Value first = arith::MulIOp::create(b, g, groupSize);
        Value last = arith::AddIOp::create(b, first, groupSize);
        Value negInf = b.f32(kNegativeInfinity);
        SmallVector<Value> top = b.forLoop(first, last, {negInf, negInf},
            [&](LoweringBuilder &b, Value e, ValueRange best)
                -> SmallVector<Value> {
              Value v = b.extract(selection, {e});
              Value aboveFirst = arith::CmpFOp::create(
                  b, arith::CmpFPredicate::OGT, v, best[0]);
              Value aboveSecond = arith::CmpFOp::create(
                  b, arith::CmpFPredicate::OGT, v, best[1]);
              Value newFirst = arith::SelectOp::create(b, aboveFirst, v, best[0]);
              Value demoted = arith::SelectOp::create(b, aboveSecond, v, best[1]);
              Value newSecond =
                  arith::SelectOp::create(b, aboveFirst, best[0], demoted);
              return {newFirst, newSecond};
            });
        Value score = topTwo ? Value(arith::AddFOp::create(b, top[0], top[1]))
                             : top[0];
        return {b.insert(score, acc[0], {g})};
      })[0];

  // Keep the best groups, one arg-max at a time.
  Value kept = b.filled(ArrayRef<OpFoldResult>{b.getIndexAttr(numGroups)},
                        b.getI1Type(), 0.0);
  kept = b.forLoop(zero, b.index(routing.getNumKeptGroups()), {kept},
      [&](LoweringBuilder &b, Value, ValueRange acc) -> SmallVector<Value> {
        Value best = b.argMax(groupScores, acc[0], b.index(0), groups).first;
        return {b.insert(b.constant(b.getI1Type(), 1), acc[0], {best})};
      })[0];

  return b.forLoop(zero, numExperts, {selection},
      [&](LoweringBuilder &b, Value e, ValueRange acc) -> SmallVector<Value> {
        Value group = arith::DivUIOp::create(b, e, groupSize);
        Value keep = b.extract(kept, {group});
        Value current = b.extract(acc[0], {e});
        Value masked = arith::SelectOp::create(b, keep, current,
                                               b.f32(kNegativeInfinity));
        return {b.insert(masked, acc[0], {e})};
      })[0];
}

struct LowerRouter : OpRewritePattern<RouterOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouterOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    RoutingAttr routing = op.getRouting();
    Value logits = op.getLogits(), bias = op.getBias();
    auto weightsType = op.getWeights().getType();
    auto indicesType = op.getIndices().getType();
    Type weightElement = weightsType.getElementType();
    Type indexElement = indicesType.getElementType();
    Type f32 = b.getF32Type();
    int64_t topK = routing.getTopK();
    bool softmax = routing.getScoring() == Scoring::softmax;

    Value zero = b.index(0);
    Value numTokens = b.dim(logits, 0), numExperts = b.dim(logits, 1);
    SmallVector<Value> dynamicTokens;
    if (weightsType.isDynamicDim(0))
      dynamicTokens.push_back(numTokens);
    Value weights = b.filled(weightsType, dynamicTokens, 0.0);
    Value indices = b.filled(indicesType, dynamicTokens, 0.0);
    SmallVector<OpFoldResult> perExpert = {
        tensor::getMixedSize(b, b.getLoc(), logits, 1)};
    SmallVector<OpFoldResult> perSlot = {b.getIndexAttr(topK)};
    Value firstZeroExpert = arith::SubIOp::create(
        b, numExperts, b.index(routing.getNumNullExperts()));
    std::optional<double> topP;
    if (FloatAttr p = routing.getTopP())
      topP = p.getValueAsDouble();

    // Tokens are independent: token t writes only row t of the results.
    SmallVector<Value> results = b.independentForLoop(
        zero, numTokens, {weights, indices},
        [&](LoweringBuilder &b, Value t, ValueRange acc) -> SmallVector<Value> {
          auto logit = [&](LoweringBuilder &b, Value e) {
            return b.toF32(b.extract(logits, {t, e}));
          };
          // Softmax needs the row maximum and the sum of exponentials.
          Value maximum, sum;
          if (softmax) {
            maximum = b.forLoop(zero, numExperts, {b.f32(kNegativeInfinity)},
                [&](LoweringBuilder &b, Value e, ValueRange m)
                    -> SmallVector<Value> {
                  return {arith::MaximumFOp::create(b, m[0], logit(b, e))};
                })[0];
            sum = b.forLoop(zero, numExperts, {b.f32(0.0)},
                [&](LoweringBuilder &b, Value e, ValueRange s)
                    -> SmallVector<Value> {
                  Value shifted = arith::SubFOp::create(b, logit(b, e), maximum);
                  return {arith::AddFOp::create(b, s[0],
                                                math::ExpOp::create(b, shifted))};
                })[0];
          }
          Value scores = b.filled(perExpert, f32, 0.0);
          Value selection = b.filled(perExpert, f32, 0.0);
          SmallVector<Value> scored = b.forLoop(zero, numExperts,
              {scores, selection},
              [&](LoweringBuilder &b, Value e, ValueRange acc)
                  -> SmallVector<Value> {
                Value x = logit(b, e), score;
                if (softmax) {
                  Value shifted = arith::SubFOp::create(b, x, maximum);
                  score = arith::DivFOp::create(
                      b, math::ExpOp::create(b, shifted), sum);
                } else {
                  Value negExp =
                      math::ExpOp::create(b, arith::NegFOp::create(b, x));
                  score = arith::DivFOp::create(
                      b, b.f32(1.0), arith::AddFOp::create(b, b.f32(1.0), negExp));
                }
                Value selected = score;
                if (bias)
                  selected = arith::AddFOp::create(
                      b, score, b.toF32(b.extract(bias, {e})));
                return {b.insert(score, acc[0], {e}),
                        b.insert(selected, acc[1], {e})};
              });
          scores = scored[0];
          selection = scored[1];
          if (routing.isGroupLimited())
            selection = maskGroups(b, routing, selection, numExperts);

          // Top-k by repeated arg-max; raw (unscaled) weights per slot.
          Value taken = b.filled(perExpert, b.getI1Type(), 0.0);
          Value raw = b.filled(perSlot, f32, 0.0);
          SmallVector<Value> picked = b.forLoop(zero, b.index(topK),
              {raw, acc[1], taken, b.f32(0.0)},
              [&](LoweringBuilder &b, Value k, ValueRange state)
                  -> SmallVector<Value> {
                Value best =
                    b.argMax(selection, state[2], zero, numExperts).first;
                Value score = b.extract(scores, {best});
                Value expert = best, weight = score, keptSum = state[3];
                if (topP) {
                  // Slot 0 always; later slots while the kept sum is below p.
                  Value first = arith::CmpIOp::create(
                      b, arith::CmpIPredicate::eq, k, zero);
                  Value below = arith::CmpFOp::create(
                      b, arith::CmpFPredicate::OLT, keptSum, b.f32(*topP));
                  Value keep = arith::OrIOp::create(b, first, below);
                  expert = arith::SelectOp::create(b, keep, best, firstZeroExpert);
                  weight = arith::SelectOp::create(b, keep, score, b.f32(0.0));
                }
                Value newRaw = b.insert(weight, state[0], {k});
                Value newIndices = b.insert(b.fromIndex(expert, indexElement),
                                            state[1], {t, k});
                Value newTaken =
                    b.insert(b.constant(b.getI1Type(), 1), state[2], {best});
                Value newSum = arith::AddFOp::create(b, keptSum, weight);
                return {newRaw, newIndices, newTaken, newSum};
              });

          // weight = raw * scale / (renormalise ? kept sum : 1)
          Value factor = b.f32(routing.getScale());
          if (routing.getRenormalize()) {
            Value positive = arith::CmpFOp::create(
                b, arith::CmpFPredicate::OGT, picked[3], b.f32(0.0));
            Value divisor =
                arith::SelectOp::create(b, positive, picked[3], b.f32(1.0));
            factor = arith::DivFOp::create(b, factor, divisor);
          }
          Value newWeights = b.forLoop(zero, b.index(topK), {acc[0]},
              [&](LoweringBuilder &b, Value k, ValueRange w)
                  -> SmallVector<Value> {
                Value scaled = arith::MulFOp::create(
                    b, b.extract(picked[0], {k}), factor);
                return {b.insert(b.fromF32(scaled, weightElement), w[0], {t, k})};
              })[0];
          return {newWeights, picked[1]};
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};
} // namespace

void mlir::moe::populateRouterLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRouter>(patterns.getContext());
}
