//===- DispatchSlots.h - (token, slot) helpers of the dispatch lowerings -*- C++ -*-===//
//
// The pieces of moe.dispatch's counting sort that its CPU form
// (MoEToLinalg/Dispatch.cpp) and its data-parallel GPU form
// (MoEToGPU/RoutingForms.cpp) share: which expert a slot routes to, the walk
// over slots in (token, slot) order, the score-policy capacity test and the
// offsets over kept counts.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_DISPATCHSLOTS_H
#define MOE_LIB_CONVERSION_MOETOLINALG_DISPATCHSLOTS_H

#include "LoweringBuilder.h"

namespace mlir::moe {

/// The (token, slot) pairs of a dispatch: `indices` [T, K] routes slot k of
/// token t to expert indices[t, k]; only experts in [0, numExperts) are routed.
struct DispatchSlots {
  Value indices, weights;
  Value numTokens, topK, numExperts;

  /// Expert of slot (t, k) as an index, and whether it is a routed expert.
  std::pair<Value, Value> expertOf(LoweringBuilder &b, Value t, Value k) const;
  /// Whether slot (t, k) is routed to `expert` (an index).
  Value routesTo(LoweringBuilder &b, Value t, Value k, Value expert) const;
  /// t * K + k.
  Value flat(LoweringBuilder &b, Value t, Value k) const;
  /// Runs `body` over every (t, k) in (token, slot) order with `state` carried.
  SmallVector<Value>
  forEachSlot(LoweringBuilder &b, ValueRange state,
              function_ref<SmallVector<Value>(LoweringBuilder &, Value, Value,
                                              ValueRange)>
                  body) const;
  /// Whether slot (t, k) of expert e is among the `capacity` heaviest slots of
  /// its expert (ties: the lower t*K+k): the score drop policy. Quadratic in
  /// the slots.
  Value keptByScore(LoweringBuilder &b, Value t, Value k, Value e,
                    Value capacity) const;
  /// Whether slot (t, k) of expert e, which has `seen` earlier slots of its
  /// expert in (token, slot) order, gets a row: always without `capacity`,
  /// else by the score policy (keptByScore) or by position (seen < capacity).
  Value kept(LoweringBuilder &b, Value t, Value k, Value e, Value seen,
             Value capacity, bool byScore) const;
  /// The dynamic leading size of dispatch's rows/sources when `rowsType` has
  /// one: T*K rows, at most E*capacity with a capacity (empty when static).
  SmallVector<Value> dynamicRowSizes(LoweringBuilder &b,
                                     RankedTensorType rowsType,
                                     Value capacity) const;
  /// Offsets over the kept counts (`counts` [E] of index, kept = min(count,
  /// capacity) when `capacity` is set), as a [E+1] tensor of `offsetElement`,
  /// and each expert's first row as an [E] index tensor.
  std::pair<Value, Value> keptOffsets(LoweringBuilder &b, Value counts,
                                      Value capacity, Type offsetElement,
                                      int64_t numExpertsValue) const;
};

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOLINALG_DISPATCHSLOTS_H
