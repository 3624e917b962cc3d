//===- RoutingForms.cpp - data-parallel forms of dispatch and combine -----===//
//
// moe.dispatch, GPU form (same results as the CPU counting sort):
//   1. rows routed to each expert: one independent count per expert,
//   2. offsets over the kept counts (E steps, sequential),
//   3. per expert, independently, its slots in (token, slot) order fill its
//      own rows [offsets[e], offsets[e+1]) of `sources` (capacity policies as
//      on the CPU),
//   4. rows[r, :] = tokens[sources[r] / K, :], every element on its own.
// Without a capacity and with static sizes, steps 1 and 3 work on chunks of
// slots of 64: one independent count per (expert, chunk), each expert's
// chunk starts by a scan over its chunks in two levels (groups of about
// sqrt(chunks) chunks), and one independent writer per (expert, chunk).
// With E threads alone, each walked all T*K slots (65536 for Qwen3 prefill)
// and the dispatch was latency bound.
// moe.combine, GPU form:
//   1. the row of each slot (the inverse of `sources`), rows independent,
//   2. out[t, h] = Σ_k w[t, k]·outputs[row(t, k), h] in f32, every element on
//      its own, summed in slot order.
//
//===----------------------------------------------------------------------===//

#include "Forms.h"

#include "DispatchSlots.h"
#include "moe/IR/MoEOps.h"

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::combineSlotRows(LoweringBuilder &b, Value outputs,
                                 Value sources, Value weights) {
  Value zero = b.index(0);
  // -1: dropped or unrouted; sources are distinct, so rows write distinct
  // slots.
  auto weightsType = cast<RankedTensorType>(weights.getType());
  SmallVector<OpFoldResult> perSlot = {
      weightsType.hasStaticShape()
          ? OpFoldResult(b.getIndexAttr(weightsType.getDimSize(0) *
                                        weightsType.getDimSize(1)))
          : OpFoldResult(arith::MulIOp::create(b, b.dim(weights, 0),
                                               b.dim(weights, 1))
                             .getResult())};
  Value slotRows = b.filled(perSlot, b.getIndexType(), -1.0);
  return b.independentForLoop(zero, b.dim(outputs, 0), {slotRows},
      [&](LoweringBuilder &b, Value r, ValueRange acc) -> SmallVector<Value> {
        Value source = b.toIndex(b.extract(sources, {r}));
        Value used = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                           source, zero);
        return b.ifElse(used,
            [&](LoweringBuilder &b) -> SmallVector<Value> {
              return {b.insert(r, acc[0], {source})};
            },
            [&](LoweringBuilder &) -> SmallVector<Value> { return {acc[0]}; });
      })[0];
}

namespace {

struct DispatchToParallelForm : OpRewritePattern<DispatchOp> {
  DispatchToParallelForm(MLIRContext *context)
      : OpRewritePattern(context, kParallelFormBenefit) {}

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value tokens = op.getTokens(), indices = op.getIndices();
    auto rowsType = op.getRows().getType();
    auto sourcesType = op.getSources().getType();
    int64_t numExpertsValue = op.getNumExperts();
    std::optional<uint64_t> capacityValue = op.getCapacity();
    bool byScore = op.getDropPolicy() == DropPolicy::score;

    Value zero = b.index(0), one = b.index(1);
    Value numTokens = b.dim(tokens, 0);
    Value topK = b.dim(indices, 1), numExperts = b.index(numExpertsValue);
    Value capacity = capacityValue ? b.index(*capacityValue) : Value();
    DispatchSlots slots{indices, op.getWeights(), numTokens, topK, numExperts};
    auto perExpert = RankedTensorType::get({numExpertsValue}, b.getIndexType());
    auto indicesType = cast<RankedTensorType>(indices.getType());
    if (!capacity && indicesType.hasStaticShape() &&
        rowsType.hasStaticShape() && sourcesType.hasStaticShape()) {
      rewriter.replaceOp(op, chunked(b, op, slots, indicesType));
      return success();
    }

    // 1. Rows routed to each expert.
    Value counts = b.generate(perExpert, {},
        [&](LoweringBuilder &b, ValueRange at) -> Value {
          return slots.forEachSlot(b, {zero},
              [&](LoweringBuilder &b, Value t, Value k, ValueRange acc)
                  -> SmallVector<Value> {
                Value mine = slots.routesTo(b, t, k, at[0]);
                return {arith::AddIOp::create(
                    b, acc[0], arith::SelectOp::create(b, mine, one, zero))};
              })[0];
        });

    // 2. Offsets and each expert's first row.
    std::pair<Value, Value> kept = slots.keptOffsets(
        b, counts, capacity, op.getOffsets().getType().getElementType(),
        numExpertsValue);
    Value offsets = kept.first, firstRows = kept.second;

    // 3. Each expert fills its own rows of `sources`.
    SmallVector<Value> dynamicRows =
        slots.dynamicRowSizes(b, rowsType, capacity);
    Type sourceElement = sourcesType.getElementType();
    Value sources = b.filled(sourcesType, dynamicRows, -1.0);
    sources = b.independentForLoop(zero, numExperts, {sources},
        [&](LoweringBuilder &b, Value expert, ValueRange acc)
            -> SmallVector<Value> {
          Value first = b.extract(firstRows, {expert});
          return {slots.forEachSlot(b, {acc[0], first, zero},
              [&](LoweringBuilder &b, Value t, Value k, ValueRange state)
                  -> SmallVector<Value> {
                Value mine = slots.routesTo(b, t, k, expert);
                return b.ifElse(mine,
                    [&](LoweringBuilder &b) -> SmallVector<Value> {
                      Value keep = slots.kept(b, t, k, expert, state[2],
                                              capacity, byScore);
                      Value seen = arith::AddIOp::create(b, state[2], one);
                      SmallVector<Value> placed = b.ifElse(keep,
                          [&](LoweringBuilder &b) -> SmallVector<Value> {
                            Value written = b.insert(
                                b.fromIndex(slots.flat(b, t, k), sourceElement),
                                state[0], {state[1]});
                            return {written,
                                    arith::AddIOp::create(b, state[1], one)};
                          },
                          [&](LoweringBuilder &) -> SmallVector<Value> {
                            return {state[0], state[1]};
                          });
                      return {placed[0], placed[1], seen};
                    },
                    [&](LoweringBuilder &) -> SmallVector<Value> {
                      return {state[0], state[1], state[2]};
                    });
              })[0]};
        })[0];

    // 4. Gather the token rows.
    Value rows = b.gatherTokenRows(tokens, sources, rowsType, dynamicRows, topK);
    rewriter.replaceOp(op, {rows, offsets, sources});
    return success();
  }

private:
  /// Slots per chunk of the chunked form. A count or writer thread walks one
  /// chunk as a chain of dependent loads; an expert's chunk counts are
  /// scanned in two levels of about sqrt(chunks) steps each, so the chunks
  /// can be short. Measured on an H200, Qwen3 prefill (65536 slots): one
  /// per-expert walk over all chunks of 256 slots took 47-66 us a kernel
  /// and the count and writer kernels 58-62 us each.
  static constexpr int64_t kChunkSlots = 64;
  /// Chunks an expert walks in one level: the two-level scan's extra
  /// kernels cost more than such a walk (decode layers).
  static constexpr int64_t kDirectScanChunks = 16;

  /// Steps 1-4 over chunks of slots (no capacity, static sizes): every routed
  /// slot gets a row, in (token, slot) order within its expert.
  static SmallVector<Value> chunked(LoweringBuilder &b, DispatchOp op,
                                    const DispatchSlots &slots,
                                    RankedTensorType indicesType) {
    Value tokens = op.getTokens();
    auto rowsType = op.getRows().getType();
    auto sourcesType = op.getSources().getType();
    int64_t numExpertsValue = op.getNumExperts();
    int64_t topKValue = indicesType.getDimSize(1);
    int64_t numSlots = indicesType.getDimSize(0) * topKValue;
    int64_t numChunks =
        std::max<int64_t>(1, llvm::divideCeil(numSlots, kChunkSlots));
    // Groups of chunks for the two-level scan: about sqrt(chunks) of them,
    // or one group (a plain walk) for up to kDirectScanChunks chunks.
    int64_t numGroups = 1;
    while (numChunks > kDirectScanChunks && numGroups * numGroups < numChunks)
      ++numGroups;
    int64_t groupChunksValue = llvm::divideCeil(numChunks, numGroups);
    numGroups = llvm::divideCeil(numChunks, groupChunksValue);
    Value zero = b.index(0), one = b.index(1);
    Value topK = b.index(topKValue), chunkSlots = b.index(kChunkSlots);
    Value lastSlot = b.index(numSlots), chunks = b.index(numChunks);
    Value groups = b.index(numGroups), groupChunks = b.index(groupChunksValue);
    Type indexType = b.getIndexType();

    // Walks the slots of chunk `c` in order.
    auto forEachSlotOfChunk = [&](LoweringBuilder &b, Value c, ValueRange state,
                                  function_ref<SmallVector<Value>(
                                      LoweringBuilder &, Value, Value, ValueRange)>
                                      body) {
      Value begin = arith::MulIOp::create(b, c, chunkSlots);
      Value end = arith::MinUIOp::create(
          b, arith::AddIOp::create(b, begin, chunkSlots), lastSlot);
      return b.forLoop(begin, end, state,
          [&](LoweringBuilder &b, Value slot, ValueRange acc) {
            Value t = arith::DivUIOp::create(b, slot, topK);
            Value k = arith::RemUIOp::create(b, slot, topK);
            return body(b, t, k, acc);
          });
    };
    // The chunks [begin, end) of group `g`.
    auto chunksOfGroup = [&](LoweringBuilder &b, Value g) {
      Value begin = arith::MulIOp::create(b, g, groupChunks);
      Value end = arith::MinUIOp::create(
          b, arith::AddIOp::create(b, begin, groupChunks), chunks);
      return std::make_pair(begin, end);
    };

    // 1. Slots of each (expert, chunk).
    auto perChunk =
        RankedTensorType::get({numExpertsValue, numChunks}, indexType);
    Value chunkCounts = b.generate(perChunk, {},
        [&](LoweringBuilder &b, ValueRange at) -> Value {
          return forEachSlotOfChunk(b, at[1], {zero},
              [&](LoweringBuilder &b, Value t, Value k, ValueRange acc)
                  -> SmallVector<Value> {
                Value mine = slots.routesTo(b, t, k, at[0]);
                return {arith::AddIOp::create(
                    b, acc[0], arith::SelectOp::create(b, mine, one, zero))};
              })[0];
        });

    // 2. Each expert's slots and the start of each of its chunks within its
    // rows. Few chunks (decode): one walk per expert over its chunks. Many:
    // two levels, each about sqrt(chunks) steps: slots of each (expert,
    // group of chunks); per expert, its slots and the start of each group;
    // per (expert, group), the start of each chunk.
    auto perExpert = RankedTensorType::get({numExpertsValue}, indexType);
    // Walks units [begin, end) of `expert` from `first`: writes each unit's
    // start into `starts` [E, units] and adds its count from `unitCounts`;
    // returns the starts and the total.
    auto walkStarts = [&](LoweringBuilder &b, Value unitCounts, Value expert,
                          Value begin, Value end, Value starts, Value first) {
      return b.forLoop(begin, end, {starts, first},
          [&](LoweringBuilder &b, Value u, ValueRange state)
              -> SmallVector<Value> {
            Value written = b.insert(state[1], state[0], {expert, u});
            return {written,
                    arith::AddIOp::create(
                        b, state[1], b.extract(unitCounts, {expert, u}))};
          });
    };
    // Per expert (independent): walks all its units from 0, giving each
    // unit's start in `startsType` [E, units] and the expert's total.
    auto scanPerExpert = [&](Value unitCounts, Value units,
                             RankedTensorType startsType) {
      return b.independentForLoop(zero, b.index(numExpertsValue),
          {b.filled(perExpert, {}, 0.0), b.filled(startsType, {}, 0.0)},
          [&](LoweringBuilder &b, Value expert, ValueRange acc)
              -> SmallVector<Value> {
            SmallVector<Value> walked =
                walkStarts(b, unitCounts, expert, zero, units, acc[1], zero);
            return {b.insert(walked[1], acc[0], {expert}), walked[0]};
          });
    };
    Value counts, chunkStarts;
    if (numGroups == 1) {
      SmallVector<Value> scanned = scanPerExpert(chunkCounts, chunks, perChunk);
      counts = scanned[0];
      chunkStarts = scanned[1];
    } else {
      auto perGroup =
          RankedTensorType::get({numExpertsValue, numGroups}, indexType);
      Value groupCounts = b.generate(perGroup, {},
          [&](LoweringBuilder &b, ValueRange at) -> Value {
            auto [begin, end] = chunksOfGroup(b, at[1]);
            return b.forLoop(begin, end, {zero},
                [&](LoweringBuilder &b, Value c, ValueRange acc)
                    -> SmallVector<Value> {
                  return {arith::AddIOp::create(
                      b, acc[0], b.extract(chunkCounts, {at[0], c}))};
                })[0];
          });
      SmallVector<Value> scanned = scanPerExpert(groupCounts, groups, perGroup);
      counts = scanned[0];
      Value groupStarts = scanned[1];
      Value pairs = b.index(numExpertsValue * numGroups);
      chunkStarts = b.independentForLoop(zero, pairs,
          {b.filled(perChunk, {}, 0.0)},
          [&](LoweringBuilder &b, Value pair, ValueRange acc)
              -> SmallVector<Value> {
            Value expert = arith::DivUIOp::create(b, pair, groups);
            Value g = arith::RemUIOp::create(b, pair, groups);
            Value start = b.extract(groupStarts, {expert, g});
            auto [begin, end] = chunksOfGroup(b, g);
            return {walkStarts(b, chunkCounts, expert, begin, end, acc[0],
                               start)[0]};
          })[0];
    }

    // 3. Offsets, and the first row of each expert.
    std::pair<Value, Value> kept = slots.keptOffsets(
        b, counts, Value(), op.getOffsets().getType().getElementType(),
        numExpertsValue);
    Value offsets = kept.first, firstRows = kept.second;

    // 4. Each (expert, chunk) writes its slots to its rows of `sources`.
    Type sourceElement = sourcesType.getElementType();
    Value sources = b.filled(sourcesType, {}, -1.0);
    Value writers = b.index(numExpertsValue * numChunks);
    sources = b.independentForLoop(zero, writers, {sources},
        [&](LoweringBuilder &b, Value pair, ValueRange acc)
            -> SmallVector<Value> {
          Value expert = arith::DivUIOp::create(b, pair, chunks);
          Value c = arith::RemUIOp::create(b, pair, chunks);
          Value start = arith::AddIOp::create(
              b, b.extract(firstRows, {expert}),
              b.extract(chunkStarts, {expert, c}));
          return {forEachSlotOfChunk(b, c, {acc[0], start},
              [&](LoweringBuilder &b, Value t, Value k, ValueRange state)
                  -> SmallVector<Value> {
                return b.ifElse(slots.routesTo(b, t, k, expert),
                    [&](LoweringBuilder &b) -> SmallVector<Value> {
                      Value written = b.insert(
                          b.fromIndex(slots.flat(b, t, k), sourceElement),
                          state[0], {state[1]});
                      return {written, arith::AddIOp::create(b, state[1], one)};
                    },
                    [&](LoweringBuilder &) -> SmallVector<Value> {
                      return {state[0], state[1]};
                    });
              })[0]};
        })[0];

    // 5. Gather the token rows.
    Value rows = b.gatherTokenRows(tokens, sources, rowsType, {}, topK);
    return {rows, offsets, sources};
  }
};

struct CombineToParallelForm : OpRewritePattern<CombineOp> {
  CombineToParallelForm(MLIRContext *context)
      : OpRewritePattern(context, kParallelFormBenefit) {}

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value outputs = op.getExpertOutputs(), sources = op.getSources();
    Value weights = op.getWeights();
    auto resultType = op.getResult().getType();
    Value zero = b.index(0);
    Value numTokens = b.dim(weights, 0), topK = b.dim(weights, 1);

    // 1. Row of each slot.
    Value slotRows = combineSlotRows(b, outputs, sources, weights);

    // 2. Weighted sum per element.
    SmallVector<Value> dynamic;
    if (resultType.isDynamicDim(0))
      dynamic.push_back(numTokens);
    if (resultType.isDynamicDim(1))
      dynamic.push_back(b.dim(outputs, 1));
    Value result = b.generate(resultType, dynamic,
        [&](LoweringBuilder &b, ValueRange at) -> Value {
          Value t = at[0], h = at[1];
          Value sum = b.forLoop(zero, topK, {b.f32(0.0)},
              [&](LoweringBuilder &b, Value k, ValueRange acc)
                  -> SmallVector<Value> {
                Value slot = arith::AddIOp::create(
                    b, arith::MulIOp::create(b, t, topK), k);
                Value row = b.extract(slotRows, {slot});
                Value used = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                                   row, zero);
                return b.ifElse(used,
                    [&](LoweringBuilder &b) -> SmallVector<Value> {
                      Value weight = b.toF32(b.extract(weights, {t, k}));
                      Value value = b.toF32(b.extract(outputs, {row, h}));
                      return {arith::AddFOp::create(
                          b, acc[0], arith::MulFOp::create(b, weight, value))};
                    },
                    [&](LoweringBuilder &) -> SmallVector<Value> {
                      return {acc[0]};
                    });
              })[0];
          return b.fromF32(sum, resultType.getElementType());
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void mlir::moe::populateRoutingParallelFormPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DispatchToParallelForm, CombineToParallelForm>(
      patterns.getContext());
}
