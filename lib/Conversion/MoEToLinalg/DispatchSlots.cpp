//===- DispatchSlots.cpp - (token, slot) helpers of the dispatch lowerings -===//

#include "DispatchSlots.h"

using namespace mlir;
using namespace mlir::moe;

std::pair<Value, Value> DispatchSlots::expertOf(LoweringBuilder &b, Value t,
                                                Value k) const {
  Value e = b.toIndex(b.extract(indices, {t, k}));
  Value nonNegative =
      arith::CmpIOp::create(b, arith::CmpIPredicate::sge, e, b.index(0));
  Value inRange =
      arith::CmpIOp::create(b, arith::CmpIPredicate::slt, e, numExperts);
  return {e, arith::AndIOp::create(b, nonNegative, inRange)};
}

Value DispatchSlots::routesTo(LoweringBuilder &b, Value t, Value k,
                              Value expert) const {
  auto [e, valid] = expertOf(b, t, k);
  return arith::AndIOp::create(
      b, valid, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, e, expert));
}

Value DispatchSlots::flat(LoweringBuilder &b, Value t, Value k) const {
  return arith::AddIOp::create(b, arith::MulIOp::create(b, t, topK), k);
}

SmallVector<Value> DispatchSlots::forEachSlot(
    LoweringBuilder &b, ValueRange state,
    function_ref<SmallVector<Value>(LoweringBuilder &, Value, Value,
                                    ValueRange)>
        body) const {
  Value zero = b.index(0);
  return b.forLoop(zero, numTokens, state,
      [&](LoweringBuilder &b, Value t, ValueRange outer) -> SmallVector<Value> {
        return b.forLoop(zero, topK, outer,
            [&](LoweringBuilder &b, Value k, ValueRange inner)
                -> SmallVector<Value> { return body(b, t, k, inner); });
      });
}

Value DispatchSlots::keptByScore(LoweringBuilder &b, Value t, Value k, Value e,
                                 Value capacity) const {
  Value zero = b.index(0), one = b.index(1);
  Value weight = b.toF32(b.extract(weights, {t, k}));
  Value self = flat(b, t, k);
  Value rank = forEachSlot(b, {zero},
      [&](LoweringBuilder &b, Value t2, Value k2, ValueRange acc)
          -> SmallVector<Value> {
        Value same = routesTo(b, t2, k2, e);
        Value weight2 = b.toF32(b.extract(weights, {t2, k2}));
        Value heavier = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT,
                                              weight2, weight);
        Value tie = arith::AndIOp::create(
            b,
            arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, weight2, weight),
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, flat(b, t2, k2),
                                  self));
        Value ahead =
            arith::AndIOp::create(b, same, arith::OrIOp::create(b, heavier, tie));
        Value step = arith::SelectOp::create(b, ahead, one, zero);
        return {arith::AddIOp::create(b, acc[0], step)};
      })[0];
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, rank, capacity);
}

Value DispatchSlots::kept(LoweringBuilder &b, Value t, Value k, Value e,
                          Value seen, Value capacity, bool byScore) const {
  if (!capacity)
    return b.constant(b.getI1Type(), 1);
  if (byScore)
    return keptByScore(b, t, k, e, capacity);
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, seen, capacity);
}

SmallVector<Value> DispatchSlots::dynamicRowSizes(LoweringBuilder &b,
                                                 RankedTensorType rowsType,
                                                 Value capacity) const {
  if (!rowsType.isDynamicDim(0))
    return {};
  Value rowCount = arith::MulIOp::create(b, numTokens, topK);
  if (capacity)
    rowCount = arith::MinUIOp::create(
        b, rowCount, arith::MulIOp::create(b, numExperts, capacity));
  return {rowCount};
}

std::pair<Value, Value>
DispatchSlots::keptOffsets(LoweringBuilder &b, Value counts, Value capacity,
                           Type offsetElement, int64_t numExpertsValue) const {
  Value zero = b.index(0), one = b.index(1);
  Value offsets = b.filled(
      ArrayRef<OpFoldResult>{b.getIndexAttr(numExpertsValue + 1)},
      offsetElement, 0.0);
  Value firstRows = b.filled(
      ArrayRef<OpFoldResult>{b.getIndexAttr(numExpertsValue)},
      b.getIndexType(), 0.0);
  SmallVector<Value> prefix = b.forLoop(zero, numExperts,
      {offsets, zero, firstRows},
      [&](LoweringBuilder &b, Value e, ValueRange acc) -> SmallVector<Value> {
        Value kept = b.extract(counts, {e});
        if (capacity)
          kept = arith::MinUIOp::create(b, kept, capacity);
        Value end = arith::AddIOp::create(b, acc[1], kept);
        Value next = arith::AddIOp::create(b, e, one);
        return {b.insert(b.fromIndex(end, offsetElement), acc[0], {next}), end,
                b.insert(acc[1], acc[2], {e})};
      });
  return {prefix[0], prefix[2]};
}
