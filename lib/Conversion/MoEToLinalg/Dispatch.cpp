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

#include "DispatchSlots.h"
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

    Value one = b.index(1);
    Value numTokens = b.dim(tokens, 0);
    Value topK = b.dim(indices, 1), numExperts = b.index(numExpertsValue);
    Value capacity = capacityValue ? b.index(*capacityValue) : Value();
    SmallVector<OpFoldResult> perExpert = {b.getIndexAttr(numExpertsValue)};
    DispatchSlots slots{indices, weights, numTokens, topK, numExperts};
    auto increment = [&](LoweringBuilder &b, Value counts, Value e) {
      Value next = arith::AddIOp::create(b, b.extract(counts, {e}), one);
      return b.insert(next, counts, {e});
    };

    // 1. Rows routed to each expert.
    Value counts = b.filled(perExpert, b.getIndexType(), 0.0);
    counts = slots.forEachSlot(b, {counts},
        [&](LoweringBuilder &b, Value t, Value k, ValueRange acc)
            -> SmallVector<Value> {
          auto [expertValue, validValue] = slots.expertOf(b, t, k);
          Value e = expertValue, valid = validValue;
          return b.ifElse(valid,
              [&](LoweringBuilder &b) -> SmallVector<Value> {
                return {increment(b, acc[0], e)};
              },
              [&](LoweringBuilder &) -> SmallVector<Value> { return {acc[0]}; });
        })[0];

    // 2 + 3. Offsets over the kept counts; `cursor` is each expert's next
    // free row.
    auto [offsets, cursor] = slots.keptOffsets(
        b, counts, capacity, offsetsType.getElementType(), numExpertsValue);

    // 4. Copy kept rows in (token, slot) order.
    SmallVector<Value> dynamicRows =
        slots.dynamicRowSizes(b, rowsType, capacity);
    Value rows = b.filled(rowsType, dynamicRows, 0.0);
    Value sources = b.filled(sourcesType, dynamicRows, -1.0);
    Value seen = b.filled(perExpert, b.getIndexType(), 0.0);
    Type sourceElement = sourcesType.getElementType();
    SmallVector<Value> filled = slots.forEachSlot(b, {rows, sources, cursor, seen},
        [&](LoweringBuilder &b, Value t, Value k, ValueRange acc)
            -> SmallVector<Value> {
          auto [expertValue, validValue] = slots.expertOf(b, t, k);
          Value e = expertValue, valid = validValue;
          return b.ifElse(valid,
              [&](LoweringBuilder &b) -> SmallVector<Value> {
                Value keep = slots.kept(b, t, k, e, b.extract(acc[3], {e}),
                                        capacity, byScore);
                Value newSeen = increment(b, acc[3], e);
                SmallVector<Value> placed = b.ifElse(keep,
                    [&](LoweringBuilder &b) -> SmallVector<Value> {
                      Value row = b.extract(acc[2], {e});
                      Value copied = b.insertRow(
                          b.rowSlice(tokens, t), acc[0], row);
                      Value newSources = b.insert(
                          b.fromIndex(slots.flat(b, t, k), sourceElement),
                          acc[1], {row});
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
