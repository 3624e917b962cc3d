//===- Stream.cpp - moe-stream --------------------------------------------===//
//
// Turns the expert-parallel exchange of a sharded layer (what moe-shard
// writes, docs/multi-rank.md §2 step 3) into a chunked software pipeline of
// started collectives, so that the all-to-alls of one chunk overlap the
// expert FFNs of the next (docs/streaming.md §3). The exchange is found from
// its weighted moe.combine and rebuilt per chunk from the same operands (the
// tokens, the expert positions the local dispatch used, the routing weights
// and the expert weights); the old ops are then dead and erased.
//
//===----------------------------------------------------------------------===//

#include "ExpertExchange.h"
#include "moe/IR/MoEOps.h"
#include "moe/IR/MoEShapes.h"
#include "moe/Transforms/Passes.h"
#include "moeflow/IR/MoEFlowOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOESTREAM
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// One expert-parallel exchange of moe-shard's shape.
struct Exchange {
  DispatchOp dispatch; // local, over all E experts, ordered by position
  moeflow::AllToAllVOp rows, rowExperts, back;
  DispatchOp regroup; // over the rank's E_l experts
  ExpertsOp experts;
  CombineOp arrival, combine; // unit weights; routing weights

  Value tokens() { return dispatch.getTokens(); }
  Value positions() { return dispatch.getIndices(); }
  Value weights() { return combine.getWeights(); }
  int64_t numTokens() { return dimOf(tokens(), 0); }
  int64_t topK() { return dimOf(positions(), 1); }
  int64_t groupSize() { return dimOf(rows.getSendCounts(), 0); }
  int64_t localExperts() { return regroup.getNumExperts(); }

  static int64_t dimOf(Value value, unsigned dim) {
    return cast<RankedTensorType>(value.getType()).getDimSize(dim);
  }
};

template <typename OpTy> OpTy producer(Value value) {
  return value ? value.getDefiningOp<OpTy>() : OpTy();
}

/// The exchange whose weighted combine is `combine`, if it has moe-shard's
/// shape with static sizes.
std::optional<Exchange> matchExchange(CombineOp combine) {
  Exchange x;
  x.combine = combine;
  x.back = producer<moeflow::AllToAllVOp>(combine.getExpertOutputs());
  if (!x.back || x.back.getOutput() != combine.getExpertOutputs())
    return std::nullopt;
  x.rows = producer<moeflow::AllToAllVOp>(x.back.getSendCounts());
  if (!x.rows || x.rows.getRecvCounts() != x.back.getSendCounts() ||
      x.rows.getGridAttr() != x.back.getGridAttr() ||
      x.rows.getAxes() != x.back.getAxes())
    return std::nullopt;
  x.dispatch = producer<DispatchOp>(x.rows.getInput());
  if (!x.dispatch || x.dispatch.getRows() != x.rows.getInput() ||
      x.dispatch.getSources() != combine.getSources() ||
      x.dispatch.getWeights() || x.dispatch.getCapacity())
    return std::nullopt;
  x.arrival = producer<CombineOp>(x.back.getInput());
  if (!x.arrival)
    return std::nullopt;
  x.experts = producer<ExpertsOp>(x.arrival.getExpertOutputs());
  if (!x.experts)
    return std::nullopt;
  x.regroup = producer<DispatchOp>(x.experts.getRows());
  if (!x.regroup || x.regroup.getRows() != x.experts.getRows() ||
      x.regroup.getOffsets() != x.experts.getOffsets() ||
      x.regroup.getSources() != x.arrival.getSources() ||
      x.regroup.getTokens() != x.rows.getOutput())
    return std::nullopt;
  // The local experts of the rows travel with the same counts.
  for (Operation *user : x.rows.getSendCounts().getUsers())
    if (auto other = dyn_cast<moeflow::AllToAllVOp>(user))
      if (other != x.rows && other.getGridAttr() == x.rows.getGridAttr() &&
          other.getAxes() == x.rows.getAxes())
        x.rowExperts = other;
  if (!x.rowExperts)
    return std::nullopt;
  // Static sizes, consistent with E = E_l * G.
  auto tokensType = cast<RankedTensorType>(x.tokens().getType());
  if (!tokensType.hasStaticShape() || tokensType.getRank() != 2 ||
      !cast<RankedTensorType>(x.positions().getType()).hasStaticShape() ||
      !cast<RankedTensorType>(x.weights().getType()).hasStaticShape() ||
      ShapedType::isDynamic(x.groupSize()) ||
      static_cast<int64_t>(x.dispatch.getNumExperts()) !=
          x.localExperts() * x.groupSize())
    return std::nullopt;
  return x;
}

Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

/// The rows and in-flight collectives of one chunk, between its stages.
struct Chunk {
  int64_t first = 0, size = 0;
  Value weights;
  DispatchOp dispatch;
  Value rowsEvent, expertsEvent, backEvent;
};

/// Builds the stages of one exchange's chunks at the builder's position.
class ChunkBuilder {
public:
  ChunkBuilder(OpBuilder &builder, Exchange &x)
      : b(builder), x(x), loc(x.combine.getLoc()),
        tokensType(cast<RankedTensorType>(x.tokens().getType())),
        countsType(x.rows.getSendCounts().getType()) {}

  /// D: the chunk's slice, its local dispatch, the send counts and the
  /// two dispatch starts.
  void dispatch(Chunk &c) {
    int64_t hidden = tokensType.getDimSize(1), topK = x.topK();
    int64_t experts = x.dispatch.getNumExperts();
    int64_t local = x.localExperts(), group = x.groupSize();
    Value tokens = slice(x.tokens(), c);
    Value positions = slice(x.positions(), c);
    c.weights = slice(x.weights(), c);
    int64_t numRows = dispatchRowBound(c.size, topK, experts, std::nullopt);
    Type i32 = b.getI32Type();
    c.dispatch = DispatchOp::create(
        b, loc, RankedTensorType::get({numRows, hidden},
                                      tokensType.getElementType()),
        RankedTensorType::get({experts + 1}, i32),
        RankedTensorType::get({numRows}, i32), tokens, positions, Value(),
        b.getI64IntegerAttr(experts), IntegerAttr(), DropPolicyAttr());

    // Rows per member j: offsets[(j+1)*El] - offsets[j*El].
    Value offsets = c.dispatch.getOffsets();
    auto offsetAt = [&](int64_t expert) {
      return tensor::ExtractOp::create(
          b, loc, offsets, ValueRange{indexConstant(b, loc, expert)});
    };
    SmallVector<Value> counts;
    for (int64_t j = 0; j < group; ++j)
      counts.push_back(arith::SubIOp::create(b, loc, offsetAt((j + 1) * local),
                                             offsetAt(j * local)));
    Value sendCounts = tensor::FromElementsOp::create(
        b, loc, RankedTensorType::get({group}, i32), counts);

    // Each row's local expert on its destination (position mod El).
    Value rowExperts =
        buildRowLocalExperts(b, loc, c.dispatch.getSources(), positions,
                             numRows, topK, local);

    int64_t capacity = group * numRows;
    c.rowsEvent = start(c.dispatch.getRows(), sendCounts,
                        RankedTensorType::get({capacity, hidden},
                                              tokensType.getElementType()));
    c.expertsEvent = start(rowExperts, sendCounts,
                           RankedTensorType::get({capacity}, i32));
  }

  /// X: the dispatch waits, regroup, the rank's experts, back to arrival
  /// order, and the return start.
  void compute(Chunk &c) {
    int64_t hidden = tokensType.getDimSize(1), local = x.localExperts();
    Type i32 = b.getI32Type();
    auto rowsWait = moeflow::WaitOp::create(b, loc, c.rowsEvent);
    auto expertsWait = moeflow::WaitOp::create(b, loc, c.expertsEvent);
    Value received = rowsWait.getResult(0), recvCounts = rowsWait.getResult(1);
    int64_t capacity = Exchange::dimOf(received, 0);
    // Past the received total the rows are padding (expert El, which
    // regrouping drops), as in moe-shard's program.
    Value tags = buildReceivedTags(b, loc, expertsWait.getResult(0),
                                   recvCounts, capacity, local);
    Value tags2d = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get({capacity, 1}, i32), tags,
        SmallVector<ReassociationIndices>{{0, 1}});
    Type element = tokensType.getElementType();
    auto regroup = DispatchOp::create(
        b, loc, RankedTensorType::get({capacity, hidden}, element),
        RankedTensorType::get({local + 1}, i32),
        RankedTensorType::get({capacity}, i32), received, tags2d, Value(),
        b.getI64IntegerAttr(local), IntegerAttr(), DropPolicyAttr());
    Value outputs = ExpertsOp::create(
        b, loc, regroup.getRows().getType(), regroup.getRows(),
        regroup.getOffsets(), x.experts.getGateWeight(),
        x.experts.getUpWeight(), x.experts.getDownWeight(),
        x.experts.getActivationAttr(), x.experts.getLayoutAttr());
    auto unitType = RankedTensorType::get({capacity, 1}, b.getF32Type());
    Value unit = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(unitType, 1.0f));
    Value arrival = CombineOp::create(
        b, loc, RankedTensorType::get({capacity, hidden}, element), outputs,
        regroup.getSources(), unit);
    c.backEvent = start(arrival, recvCounts, c.dispatch.getRows().getType());
  }

  /// C: the return wait and the weighted combine into the chunk's rows of
  /// `result`.
  Value combine(Chunk &c, Value result) {
    auto back = moeflow::WaitOp::create(b, loc, c.backEvent);
    auto chunkType = RankedTensorType::get(
        {c.size, tokensType.getDimSize(1)}, tokensType.getElementType());
    Value combined = CombineOp::create(b, loc, chunkType, back.getResult(0),
                                       c.dispatch.getSources(), c.weights);
    return tensor::InsertSliceOp::create(
        b, loc, combined, result,
        ArrayRef<OpFoldResult>{b.getIndexAttr(c.first), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(c.size),
                               b.getIndexAttr(tokensType.getDimSize(1))},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
  }

private:
  /// Rows [first, first + size) of a [T, N] tensor.
  Value slice(Value value, const Chunk &c) {
    int64_t cols = Exchange::dimOf(value, 1);
    return tensor::ExtractSliceOp::create(
        b, loc, value,
        ArrayRef<OpFoldResult>{b.getIndexAttr(c.first), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(c.size), b.getIndexAttr(cols)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
  }

  Value start(Value input, Value sendCounts, RankedTensorType output) {
    auto event = moeflow::EventType::get(b.getContext(),
                                         {output, countsType});
    return moeflow::AllToAllVStartOp::create(b, loc, event, input, sendCounts,
                                             x.rows.getGridAttr(),
                                             x.rows.getAxesAttr());
  }

  OpBuilder &b;
  Exchange &x;
  Location loc;
  RankedTensorType tokensType;
  Type countsType;
};

/// Rewrites `x` into `numChunks` chunks, pipelined when `overlap`; the old
/// exchange is left without users.
void streamExchange(Exchange &x, int64_t numChunks, bool overlap) {
  OpBuilder b(x.combine);
  ChunkBuilder build(b, x);
  int64_t tokens = x.numTokens();
  SmallVector<Chunk> chunks(numChunks);
  for (int64_t i = 0, first = 0; i < numChunks; ++i) {
    chunks[i].first = first;
    chunks[i].size = tokens / numChunks + (i < tokens % numChunks ? 1 : 0);
    first += chunks[i].size;
  }
  Value result = tensor::EmptyOp::create(
      b, x.combine.getLoc(), x.combine.getResult().getType(), ValueRange{});
  if (!overlap) {
    for (Chunk &chunk : chunks) {
      build.dispatch(chunk);
      build.compute(chunk);
      result = build.combine(chunk, result);
    }
    x.combine.getResult().replaceAllUsesWith(result);
    return;
  }
  build.dispatch(chunks[0]);
  for (int64_t i = 0; i < numChunks; ++i) {
    if (i + 1 < numChunks)
      build.dispatch(chunks[i + 1]);
    build.compute(chunks[i]);
    if (i > 0)
      result = build.combine(chunks[i - 1], result);
  }
  result = build.combine(chunks[numChunks - 1], result);
  x.combine.getResult().replaceAllUsesWith(result);
}

/// Erases the ops of `ops` (in block order) that are dead, until none is:
/// the old exchange, whose ops are pure.
void eraseDead(SmallVector<Operation *> ops) {
  bool erased = true;
  while (erased) {
    erased = false;
    for (Operation *&op : llvm::reverse(ops))
      if (op && isOpTriviallyDead(op)) {
        op->erase();
        op = nullptr;
        erased = true;
      }
  }
}

struct MoEStreamPass : mlir::moe::impl::MoEStreamBase<MoEStreamPass> {
  using MoEStreamBase::MoEStreamBase;
  void runOnOperation() override;
};

} // namespace

void MoEStreamPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (chunks < 1) {
    module.emitError() << "moe-stream option chunks must be positive, got "
                       << int64_t(chunks);
    return signalPassFailure();
  }
  if (chunks == 1)
    return markAllAnalysesPreserved();
  SmallVector<Exchange> exchanges;
  module.walk([&](CombineOp combine) {
    if (std::optional<Exchange> x = matchExchange(combine))
      exchanges.push_back(*x);
  });
  bool failedAny = false;
  for (Exchange &x : exchanges) {
    if (chunks > x.numTokens()) {
      x.dispatch.emitOpError()
          << "cannot be streamed in " << int64_t(chunks)
          << " chunks: the rank has only " << x.numTokens()
          << " tokens (moe-stream chunks must be at most the local token "
             "count)";
      failedAny = true;
      continue;
    }
    Operation *first = x.dispatch, *last = x.combine;
    if (first->getBlock() != last->getBlock())
      continue;
    // The old exchange: the ops from the local dispatch to the combine.
    SmallVector<Operation *> old;
    for (Operation *op = first; op != last->getNextNode();
         op = op->getNextNode())
      old.push_back(op);
    streamExchange(x, chunks, overlap);
    eraseDead(std::move(old));
  }
  if (failedAny)
    signalPassFailure();
}
