//===- WarpRouter.cpp - scoring and top-k of one token by one warp --------===//
//
// Why: the loop form (Router.cpp, one thread per token with its score
// vectors in local memory, walking E experts K times) took 95-244 us of a
// decode layer and 238-536 us of a prefill layer on an H100. Here lane l
// holds experts l*c .. l*c+c-1 (c = ceil(E/32)) in registers and every
// reduction over experts is a butterfly of gpu.shuffle xor, so an arg-max
// round costs c compares and 15 shuffles.
//
// The results are the CPU lowering's (Router.cpp) up to rounding in the
// softmax (its denominator is summed in butterfly order, and exp is the
// device's). Selection is exact:
// * arg-max over the candidates (experts not taken yet) is, as a sequential
//   scan, the first candidate unless a later one is strictly greater (OGT):
//   ties go to the lower index and a NaN wins only as the first candidate.
//   Butterfly form: key = NaN ? -inf : v, the larger key wins, equal keys go
//   to the lower index; then, if the first candidate is a NaN, it wins;
// * group scores (group-limited selection) are the top-2 (or top-1) of a
//   group's non-NaN selection scores, which merge exactly across the lanes
//   that hold the group (a multiset's top-2 is associative), and the kept
//   groups are chosen by the same arg-max;
// * top-p, renormalisation and scaling are the same scalar steps in the
//   same order, on values every lane of the warp holds.
//
//===----------------------------------------------------------------------===//

#include "WarpRouter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr int64_t kWarpSize = 32;
/// Experts a lane holds at most (E <= 512): every per-expert step is
/// unrolled over them.
constexpr int64_t kMaxExpertsPerLane = 16;
/// Slots unrolled at most.
constexpr int64_t kMaxTopK = 32;

/// Builds the kernel body of one token: every value is per lane; the
/// reductions leave the same value in every lane.
class WarpRouter {
public:
  WarpRouter(LoweringBuilder &b, RoutingAttr routing, int64_t experts,
             Value lane)
      : b(b), routing(routing), experts(experts),
        perLane(llvm::divideCeil(experts, kWarpSize)) {
    i32 = b.getI32Type();
    laneI32 = arith::IndexCastOp::create(b, i32, lane);
  }

  Value i32Constant(int64_t value) {
    return arith::ConstantIntOp::create(b, i32, value);
  }
  Value negInf() { return b.f32(-std::numeric_limits<double>::infinity()); }
  Value select(Value condition, Value ifTrue, Value ifFalse) {
    return arith::SelectOp::create(b, condition, ifTrue, ifFalse);
  }
  Value cmpf(arith::CmpFPredicate predicate, Value lhs, Value rhs) {
    return arith::CmpFOp::create(b, predicate, lhs, rhs);
  }
  Value cmpi(arith::CmpIPredicate predicate, Value lhs, Value rhs) {
    return arith::CmpIOp::create(b, predicate, lhs, rhs);
  }
  Value both(Value lhs, Value rhs) { return arith::AndIOp::create(b, lhs, rhs); }
  Value either(Value lhs, Value rhs) { return arith::OrIOp::create(b, lhs, rhs); }
  Value isNaN(Value v) { return cmpf(arith::CmpFPredicate::UNO, v, v); }

  /// The value of the lane `offset` away in the xor butterfly.
  Value shuffleXor(Value value, int32_t offset) {
    return gpu::ShuffleOp::create(b, value, offset, kWarpSize,
                                  gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }

  /// Expert j of this lane, as i32, and whether it exists (E may not fill
  /// the last lanes).
  Value expertOf(int64_t j) {
    return arith::AddIOp::create(
        b, arith::MulIOp::create(b, laneI32, i32Constant(perLane)),
        i32Constant(j));
  }
  Value exists(Value expert) {
    if (experts == kWarpSize * perLane)
      return b.constant(b.getI1Type(), 1);
    return cmpi(arith::CmpIPredicate::slt, expert, i32Constant(experts));
  }

  /// Arg-max over the candidates of the warp (values[j] of index[j] where
  /// candidate[j]; indices ascend with j and with the lane), with the
  /// sequential scan's result (file comment). `none` when no candidate.
  Value argMax(ArrayRef<Value> values, ArrayRef<Value> candidate,
               ArrayRef<Value> index, int64_t none) {
    Value noneI32 = i32Constant(none);
    Value first = noneI32, firstIsNaN = b.constant(b.getI1Type(), 0);
    Value bestKey = negInf(), best = noneI32;
    for (auto [value, isCandidate, at] :
         llvm::zip_equal(values, candidate, index)) {
      Value noFirst = cmpi(arith::CmpIPredicate::eq, first, noneI32);
      Value isFirst = both(isCandidate, noFirst);
      first = select(isFirst, at, first);
      firstIsNaN = select(isFirst, isNaN(value), firstIsNaN);
      Value key = select(isNaN(value), negInf(), value);
      Value noBest = cmpi(arith::CmpIPredicate::eq, best, noneI32);
      Value greater = cmpf(arith::CmpFPredicate::OGT, key, bestKey);
      Value better = both(isCandidate, either(noBest, greater));
      bestKey = select(better, key, bestKey);
      best = select(better, at, best);
    }
    Value warpFirst = first;
    for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
      Value otherKey = shuffleXor(bestKey, offset);
      Value other = shuffleXor(best, offset);
      Value greater = cmpf(arith::CmpFPredicate::OGT, otherKey, bestKey);
      Value tie = both(cmpf(arith::CmpFPredicate::OEQ, otherKey, bestKey),
                       cmpi(arith::CmpIPredicate::slt, other, best));
      Value take = either(greater, tie);
      bestKey = select(take, otherKey, bestKey);
      best = select(take, other, best);
      warpFirst = arith::MinSIOp::create(b, warpFirst,
                                         shuffleXor(warpFirst, offset));
    }
    // The lane holding the first candidate says whether it is a NaN.
    Value mine = both(both(firstIsNaN, cmpi(arith::CmpIPredicate::eq, first,
                                            warpFirst)),
                      cmpi(arith::CmpIPredicate::ne, first, noneI32));
    Value nanFirst = arith::ExtUIOp::create(b, i32, mine);
    for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2)
      nanFirst = arith::MaxSIOp::create(b, nanFirst,
                                        shuffleXor(nanFirst, offset));
    Value firstWins = cmpi(arith::CmpIPredicate::ne, nanFirst, i32Constant(0));
    return select(firstWins, warpFirst, best);
  }

  /// `values[j]` of the lane holding expert `expert` (every lane gets it).
  Value ofExpert(ArrayRef<Value> values, ArrayRef<Value> expertIds,
                 Value expert) {
    Value local = b.f32(0.0);
    for (auto [value, id] : llvm::zip_equal(values, expertIds))
      local = select(cmpi(arith::CmpIPredicate::eq, id, expert), value, local);
    Value owner = arith::MinSIOp::create(
        b, arith::DivSIOp::create(b, expert, i32Constant(perLane)),
        i32Constant(kWarpSize - 1));
    return gpu::ShuffleOp::create(b, local, owner, i32Constant(kWarpSize),
                                  gpu::ShuffleMode::IDX)
        .getShuffleResult();
  }

  /// Scores of this lane's experts: softmax over the warp, or sigmoid.
  SmallVector<Value> scores(ArrayRef<Value> logits, ArrayRef<Value> present) {
    SmallVector<Value> result;
    if (routing.getScoring() != Scoring::softmax) {
      for (Value x : logits) {
        Value negExp = math::ExpOp::create(b, arith::NegFOp::create(b, x));
        result.push_back(arith::DivFOp::create(
            b, b.f32(1.0), arith::AddFOp::create(b, b.f32(1.0), negExp)));
      }
      return result;
    }
    Value maximum = negInf();
    for (auto [x, here] : llvm::zip_equal(logits, present))
      maximum = arith::MaximumFOp::create(b, maximum, select(here, x, negInf()));
    for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2)
      maximum = arith::MaximumFOp::create(b, maximum,
                                          shuffleXor(maximum, offset));
    SmallVector<Value> exps;
    Value sum = b.f32(0.0);
    for (auto [x, here] : llvm::zip_equal(logits, present)) {
      Value e = math::ExpOp::create(b, arith::SubFOp::create(b, x, maximum));
      exps.push_back(e);
      sum = arith::AddFOp::create(b, sum, select(here, e, b.f32(0.0)));
    }
    for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2)
      sum = arith::AddFOp::create(b, sum, shuffleXor(sum, offset));
    for (Value e : exps)
      result.push_back(arith::DivFOp::create(b, e, sum));
    return result;
  }

  /// Sets the selection scores of experts outside the kept groups to -inf
  /// (Router.cpp's maskGroups, over lanes).
  SmallVector<Value> maskGroups(ArrayRef<Value> selection) {
    int64_t groups = routing.getNumGroups();
    int64_t lanesPerGroup = experts / groups / perLane;
    // Top two of this lane's part of its group, as the sequential scan
    // keeps them (a NaN never enters).
    Value top = negInf(), second = negInf();
    for (Value v : selection) {
      Value aboveTop = cmpf(arith::CmpFPredicate::OGT, v, top);
      Value aboveSecond = cmpf(arith::CmpFPredicate::OGT, v, second);
      Value demoted = select(aboveSecond, v, second);
      second = select(aboveTop, top, demoted);
      top = select(aboveTop, v, top);
    }
    for (int32_t offset = 1; offset < lanesPerGroup; offset *= 2) {
      Value otherTop = shuffleXor(top, offset);
      Value otherSecond = shuffleXor(second, offset);
      Value lower = arith::MinimumFOp::create(b, top, otherTop);
      top = arith::MaximumFOp::create(b, top, otherTop);
      second = arith::MaximumFOp::create(
          b, lower, arith::MaximumFOp::create(b, second, otherSecond));
    }
    Value groupScore = routing.getGroupScore() == GroupScore::top2_sum
                           ? Value(arith::AddFOp::create(b, top, second))
                           : top;
    // Each group's first lane is its candidate; keep the best groups.
    Value group = arith::DivSIOp::create(b, laneI32, i32Constant(lanesPerGroup));
    Value leader = cmpi(
        arith::CmpIPredicate::eq,
        arith::RemSIOp::create(b, laneI32, i32Constant(lanesPerGroup)),
        i32Constant(0));
    Value kept = b.constant(b.getI1Type(), 0);
    for (int64_t round = 0; round < routing.getNumKeptGroups(); ++round) {
      Value free = arith::XOrIOp::create(b, kept, b.constant(b.getI1Type(), 1));
      Value chosen = argMax({groupScore}, {both(leader, free)}, {group}, groups);
      kept = either(kept, cmpi(arith::CmpIPredicate::eq, group, chosen));
    }
    SmallVector<Value> masked;
    for (Value v : selection)
      masked.push_back(select(kept, v, negInf()));
    return masked;
  }

  /// Experts and weights (f32, before renormalisation and scaling) of the K
  /// slots, and the sum of the kept weights.
  struct Picked {
    SmallVector<Value> experts, weights;
    Value sum;
  };
  Picked pick(ArrayRef<Value> selection, ArrayRef<Value> scores,
              ArrayRef<Value> expertIds, ArrayRef<Value> present) {
    Picked picked;
    picked.sum = b.f32(0.0);
    SmallVector<Value> taken(perLane, b.constant(b.getI1Type(), 0));
    std::optional<double> topP;
    if (FloatAttr p = routing.getTopP())
      topP = p.getValueAsDouble();
    Value firstZeroExpert =
        i32Constant(experts - routing.getNumNullExperts());
    for (int64_t k = 0; k < routing.getTopK(); ++k) {
      SmallVector<Value> candidate;
      for (auto [here, isTaken] : llvm::zip_equal(present, taken))
        candidate.push_back(both(
            here, arith::XOrIOp::create(b, isTaken,
                                        b.constant(b.getI1Type(), 1))));
      Value best = argMax(selection, candidate, expertIds, experts);
      for (int64_t j = 0; j < perLane; ++j)
        taken[j] = either(taken[j],
                          cmpi(arith::CmpIPredicate::eq, expertIds[j], best));
      Value expert = best, weight = ofExpert(scores, expertIds, best);
      // Top-p: slot 0 always; later slots while the kept sum is below p.
      if (topP && k > 0) {
        Value keep = cmpf(arith::CmpFPredicate::OLT, picked.sum, b.f32(*topP));
        expert = select(keep, best, firstZeroExpert);
        weight = select(keep, weight, b.f32(0.0));
      }
      picked.experts.push_back(expert);
      picked.weights.push_back(weight);
      picked.sum = arith::AddFOp::create(b, picked.sum, weight);
    }
    return picked;
  }

  /// weight = raw * scale / (renormalise ? kept sum : 1), as Router.cpp.
  Value factor(Value keptSum) {
    Value factor = b.f32(routing.getScale());
    if (!routing.getRenormalize())
      return factor;
    Value positive = cmpf(arith::CmpFPredicate::OGT, keptSum, b.f32(0.0));
    return arith::DivFOp::create(b, factor,
                                 select(positive, keptSum, b.f32(1.0)));
  }

private:
  LoweringBuilder &b;
  RoutingAttr routing;
  int64_t experts, perLane;
  Value laneI32;
  Type i32;
};

} // namespace

std::string mlir::moe::warpRoutingUnsupportedReason(int64_t experts,
                                                     RoutingAttr routing) {
  if (ShapedType::isDynamic(experts))
    return "the number of experts is dynamic";
  int64_t perLane = llvm::divideCeil(experts, kWarpSize);
  if (perLane > kMaxExpertsPerLane)
    return "more than " + std::to_string(kWarpSize * kMaxExpertsPerLane) +
           " experts";
  if (routing.getTopK() > kMaxTopK)
    return "top-k above " + std::to_string(kMaxTopK);
  if (routing.isGroupLimited()) {
    int64_t groups = routing.getNumGroups();
    if (experts != kWarpSize * perLane || experts % groups != 0)
      return "groups do not map onto whole lanes";
    int64_t groupSize = experts / groups;
    if (groupSize % perLane != 0 ||
        !llvm::isPowerOf2_64(uint64_t(groupSize / perLane)))
      return "groups do not map onto a power of two of lanes";
  }
  return "";
}

void mlir::moe::emitWarpRouting(LoweringBuilder &b, RoutingAttr routing,
                                int64_t experts, Value lane, Value token,
                                function_ref<Value(Value column)> loadLogit,
                                Value bias, Value weightsBuffer,
                                Value indicesBuffer) {
  int64_t perLane = llvm::divideCeil(experts, kWarpSize);
  auto weightsType = cast<MemRefType>(weightsBuffer.getType());
  auto indicesType = cast<MemRefType>(indicesBuffer.getType());
  WarpRouter warpRouter(b, routing, experts, lane);
  SmallVector<Value> expertIds, present, columns, raw;
  for (int64_t j = 0; j < perLane; ++j) {
    Value id = warpRouter.expertOf(j);
    // Lanes past E read the last expert and ignore it.
    Value at = b.toIndex(arith::MinSIOp::create(
        b, id, warpRouter.i32Constant(experts - 1)));
    expertIds.push_back(id);
    present.push_back(warpRouter.exists(id));
    columns.push_back(at);
    raw.push_back(loadLogit(at));
  }
  SmallVector<Value> scores = warpRouter.scores(raw, present);
  SmallVector<Value> selection = scores;
  if (bias) {
    for (auto [j, score] : llvm::enumerate(scores))
      selection[j] = arith::AddFOp::create(
          b, score,
          b.toF32(memref::LoadOp::create(b, bias, {columns[j]})));
  }
  if (routing.isGroupLimited())
    selection = warpRouter.maskGroups(selection);
  WarpRouter::Picked picked =
      warpRouter.pick(selection, scores, expertIds, present);
  Value factor = warpRouter.factor(picked.sum);
  // Lane 0 writes the token's row.
  Value lane0 = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane,
                                      b.index(0));
  auto ifLane0 = scf::IfOp::create(b, lane0, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifLane0.getThenRegion().front());
  for (int64_t k = 0; k < routing.getTopK(); ++k) {
    Value slot = b.index(k);
    Value weight = arith::MulFOp::create(b, picked.weights[k], factor);
    memref::StoreOp::create(
        b, b.fromF32(weight, weightsType.getElementType()), weightsBuffer,
        ValueRange{token, slot});
    Value expert = indicesType.getElementType().isInteger(32)
                       ? picked.experts[k]
                       : b.fromIndex(b.toIndex(picked.experts[k]),
                                     indicesType.getElementType());
    memref::StoreOp::create(b, expert, indicesBuffer,
                            ValueRange{token, slot});
  }
}
