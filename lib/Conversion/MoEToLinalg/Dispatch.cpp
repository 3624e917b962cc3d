//===- Dispatch.cpp - moe.dispatch -> scf/tensor/arith --------------------===//
//
// A counting sort of the (token, slot) pairs by expert:
//   1. rows routed to each expert (slots holding a routed expert only),
//   2. rows kept per expert: all (dropless) or at most the capacity,
//   3. offsets = prefix sums of the kept counts,
//   4. a pass in (token, slot) order copying each kept token row to the next
//      free row of its expert and recording t*K+k in `sources`.
// The score policy ranks a pair among its expert's pairs by weight (ties to
// the lower pair), which is quadratic in the pairs of one expert.
//
//===----------------------------------------------------------------------===//

#include "LoweringBuilder.h"
#include "Patterns.h"

#include "moe/IR/MoEOps.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

struct LowerDispatch : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value tokens = op.getTokens(), indices = op.getIndices();
    Value weights = op.getWeights();
    auto rowsType = op.getRows().getType();
    auto offsetsType = op.getOffsets().getType();
    auto sourcesType = op.getSources().getType();
    int64_t numExpertsValue = op.getNumExperts();
    std::optional<uint64_t> capacityValue = op.getCapacity();
    bool byScore = op.getDropPolicy() == DropPolicy::score;

    Value zero = b.index(0), one = b.index(1);
    Value numTokens = b.dim(tokens, 0);
    Value topK = b.dim(indices, 1), numExperts = b.index(numExpertsValue);
    Value capacity = capacityValue ? b.index(*capacityValue) : Value();
    SmallVector<OpFoldResult> perExpert = {b.getIndexAttr(numExpertsValue)};

    // Expert of slot (t, k), and whether it is a routed expert at all.
    auto expertOf = [&](LoweringBuilder &b, Value t, Value k) {
      Value e = b.toIndex(b.extract(indices, {t, k}));
      Value nonNegative =
          arith::CmpIOp::create(b, arith::CmpIPredicate::sge, e, zero);
      Value inRange =
          arith::CmpIOp::create(b, arith::CmpIPredicate::slt, e, numExperts);
      return std::make_pair(e, Value(arith::AndIOp::create(b, nonNegative,
                                                           inRange)));
    };
    // Runs `body` over every (t, k) in order with `state` carried.
    auto forEachSlot = [&](LoweringBuilder &b, ValueRange state,
                           function_ref<SmallVector<Value>(
                               LoweringBuilder &, Value, Value, ValueRange)>
                               body) {
      return b.forLoop(zero, numTokens, state,
          [&](LoweringBuilder &b, Value t, ValueRange outer)
              -> SmallVector<Value> {
            return b.forLoop(zero, topK, outer,
                [&](LoweringBuilder &b, Value k, ValueRange inner)
                    -> SmallVector<Value> { return body(b, t, k, inner); });
          });
    };
    auto increment = [&](LoweringBuilder &b, Value counts, Value e) {
      Value next = arith::AddIOp::create(b, b.extract(counts, {e}), one);
      return b.insert(next, counts, {e});
    };

    // 1. Rows routed to each expert.
    Value counts = b.filled(perExpert, b.getIndexType(), 0.0);
    counts = forEachSlot(b, {counts},
        [&](LoweringBuilder &b, Value t, Value k, ValueRange acc)
            -> SmallVector<Value> {
          auto [e, valid] = expertOf(b, t, k);
          return b.ifElse(valid,
              [&](LoweringBuilder &b) -> SmallVector<Value> {
                return {increment(b, acc[0], e)};
              },
              [&](LoweringBuilder &) -> SmallVector<Value> { return {acc[0]}; });
        })[0];

    // 2 + 3. Offsets over the kept counts.
    Type offsetElement = offsetsType.getElementType();
    Value offsets = b.filled(
        ArrayRef<OpFoldResult>{b.getIndexAttr(numExpertsValue + 1)},
        offsetElement, 0.0);
    SmallVector<Value> prefix = b.forLoop(zero, numExperts,
        {offsets, zero, b.filled(perExpert, b.getIndexType(), 0.0)},
        [&](LoweringBuilder &b, Value e, ValueRange acc) -> SmallVector<Value> {
          Value kept = b.extract(counts, {e});
          if (capacity)
            kept = arith::MinUIOp::create(b, kept, capacity);
          Value end = arith::AddIOp::create(b, acc[1], kept);
          Value next = arith::AddIOp::create(b, e, one);
          return {b.insert(b.fromIndex(end, offsetElement), acc[0], {next}), end,
                  b.insert(acc[1], acc[2], {e})};
        });
    offsets = prefix[0];
    Value cursor = prefix[2]; // next free row of each expert

    // Whether slot (t, k) of expert e is among the `capacity` heaviest of its
    // expert (ties: the lower t*K+k).
    auto keptByScore = [&](LoweringBuilder &b, Value t, Value k, Value e) {
      Value weight = b.toF32(b.extract(weights, {t, k}));
      Value flat = arith::AddIOp::create(b, arith::MulIOp::create(b, t, topK), k);
      Value rank = forEachSlot(b, {zero},
          [&](LoweringBuilder &b, Value t2, Value k2, ValueRange acc)
              -> SmallVector<Value> {
            auto [e2, valid2] = expertOf(b, t2, k2);
            Value same = arith::AndIOp::create(
                b, valid2,
                arith::CmpIOp::create(b, arith::CmpIPredicate::eq, e2, e));
            Value weight2 = b.toF32(b.extract(weights, {t2, k2}));
            Value flat2 =
                arith::AddIOp::create(b, arith::MulIOp::create(b, t2, topK), k2);
            Value heavier = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT,
                                                  weight2, weight);
            Value tie = arith::AndIOp::create(
                b,
                arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, weight2,
                                      weight),
                arith::CmpIOp::create(b, arith::CmpIPredicate::ult, flat2, flat));
            Value ahead = arith::AndIOp::create(
                b, same, arith::OrIOp::create(b, heavier, tie));
            Value step = arith::SelectOp::create(b, ahead, one, zero);
            return {arith::AddIOp::create(b, acc[0], step)};
          })[0];
      return Value(arith::CmpIOp::create(b, arith::CmpIPredicate::ult, rank,
                                         capacity));
    };

    // 4. Copy kept rows in (token, slot) order.
    SmallVector<Value> dynamicRows;
    if (rowsType.isDynamicDim(0)) {
      Value rowCount = arith::MulIOp::create(b, numTokens, topK);
      if (capacity)
        rowCount = arith::MinUIOp::create(
            b, rowCount, arith::MulIOp::create(b, numExperts, capacity));
      dynamicRows.push_back(rowCount);
    }
    Value rows = b.filled(rowsType, dynamicRows, 0.0);
    Value sources = b.filled(sourcesType, dynamicRows, -1.0);
    Value seen = b.filled(perExpert, b.getIndexType(), 0.0);
    Type sourceElement = sourcesType.getElementType();
    SmallVector<Value> filled = forEachSlot(b, {rows, sources, cursor, seen},
        [&](LoweringBuilder &b, Value t, Value k, ValueRange acc)
            -> SmallVector<Value> {
          auto [e, valid] = expertOf(b, t, k);
          return b.ifElse(valid,
              [&](LoweringBuilder &b) -> SmallVector<Value> {
                Value keep;
                if (!capacity)
                  keep = b.constant(b.getI1Type(), 1);
                else if (byScore)
                  keep = keptByScore(b, t, k, e);
                else
                  keep = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                               b.extract(acc[3], {e}), capacity);
                Value newSeen = increment(b, acc[3], e);
                SmallVector<Value> placed = b.ifElse(keep,
                    [&](LoweringBuilder &b) -> SmallVector<Value> {
                      Value row = b.extract(acc[2], {e});
                      Value copied = b.insertRow(
                          b.rowSlice(tokens, t), acc[0], row);
                      Value flat = arith::AddIOp::create(
                          b, arith::MulIOp::create(b, t, topK), k);
                      Value newSources = b.insert(
                          b.fromIndex(flat, sourceElement), acc[1], {row});
                      return {copied, newSources, increment(b, acc[2], e)};
                    },
                    [&](LoweringBuilder &) -> SmallVector<Value> {
                      return {acc[0], acc[1], acc[2]};
                    });
                return {placed[0], placed[1], placed[2], newSeen};
              },
              [&](LoweringBuilder &) -> SmallVector<Value> {
                return {acc[0], acc[1], acc[2], acc[3]};
              });
        });
    rewriter.replaceOp(op, {filled[0], offsets, filled[1]});
    return success();
  }
};
} // namespace

void mlir::moe::populateDispatchLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerDispatch>(patterns.getContext());
}
