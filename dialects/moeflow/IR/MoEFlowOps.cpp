//===- MoEFlowOps.cpp - moeflow dialect operations and their verifiers ----===//
//
// Every verifier message here has a case in test/Dialect/MoEFlow/invalid.mlir.
// Shape checks that need the group size run in `verifySymbolUses`, once the
// `shard.grid` can be looked up.
//
//===----------------------------------------------------------------------===//

#include "moeflow/IR/MoEFlowOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/SmallSet.h"

using namespace mlir;
using namespace mlir::moeflow;

//===----------------------------------------------------------------------===//
// Groups
//===----------------------------------------------------------------------===//

FailureOr<int64_t>
mlir::moeflow::verifyGroup(Operation *op, FlatSymbolRefAttr grid,
                           ArrayRef<int16_t> axes,
                           SymbolTableCollection &symbolTable) {
  auto gridOp = symbolTable.lookupNearestSymbolFrom<shard::GridOp>(op, grid);
  if (!gridOp)
    return op->emitOpError() << "'" << grid << "' does not name a shard.grid";
  if (axes.empty())
    return op->emitOpError() << "'axes' must list at least one grid axis";
  ArrayRef<int64_t> shape = gridOp.getShape();
  llvm::SmallSet<int16_t, 4> seen;
  int64_t size = 1;
  for (int16_t axis : axes) {
    if (axis < 0 || axis >= static_cast<int64_t>(shape.size()))
      return op->emitOpError()
             << "grid axis " << axis << " is out of range for " << grid
             << " of rank " << shape.size();
    if (!seen.insert(axis).second)
      return op->emitOpError() << "grid axis " << axis << " is listed twice";
    if (ShapedType::isDynamic(shape[axis]) || ShapedType::isDynamic(size))
      size = ShapedType::kDynamic;
    else
      size *= shape[axis];
  }
  return size;
}

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

static RankedTensorType tensorType(Value value) {
  return cast<RankedTensorType>(value.getType());
}

/// Checks that `result` has `input`'s rank and element type, and its
/// dimensions except `skipDim` (none when negative).
static LogicalResult verifyLike(Operation *op, RankedTensorType in,
                                RankedTensorType out, StringRef resultName,
                                int64_t skipDim) {
  if (in.getRank() != out.getRank())
    return op->emitOpError()
           << "'input' and '" << resultName << "' must have the same rank, got "
           << in.getRank() << " and " << out.getRank();
  if (in.getElementType() != out.getElementType())
    return op->emitOpError()
           << "'input' and '" << resultName
           << "' must have the same element type, got " << in.getElementType()
           << " and " << out.getElementType();
  for (int64_t d = 0, e = in.getRank(); d < e; ++d) {
    if (d == skipDim)
      continue;
    int64_t expected = in.getDimSize(d), actual = out.getDimSize(d);
    if (ShapedType::isDynamic(expected) || ShapedType::isDynamic(actual) ||
        expected == actual)
      continue;
    return op->emitOpError()
           << "'" << resultName << "' dimension " << d << " is " << actual
           << ", expected " << expected << " (as 'input')";
  }
  return success();
}

static LogicalResult verifyLike(Operation *op, Value input, Value result,
                                StringRef resultName, int64_t skipDim) {
  return verifyLike(op, tensorType(input), tensorType(result), resultName,
                    skipDim);
}

static LogicalResult verifyDimAttr(Operation *op, Value input, int64_t dim) {
  int64_t rank = tensorType(input).getRank();
  if (dim >= 0 && dim < rank)
    return success();
  return op->emitOpError() << "'dim' " << dim << " is out of range for rank "
                           << rank;
}

static LogicalResult verifyAbsolutePeer(Operation *op, int64_t peer,
                                        bool relative) {
  if (relative || peer >= 0)
    return success();
  return op->emitOpError() << "absolute 'peer' must be non-negative, got "
                           << peer;
}

static LogicalResult verifyPeerInGroup(Operation *op, int64_t peer,
                                       bool relative, int64_t groupSize) {
  if (relative || ShapedType::isDynamic(groupSize) || peer < groupSize)
    return success();
  return op->emitOpError() << "absolute 'peer' " << peer
                           << " is out of range for the group size "
                           << groupSize;
}

//===----------------------------------------------------------------------===//
// moeflow.all_to_all_v
//===----------------------------------------------------------------------===//

/// The checks all_to_all_v and all_to_all_v_start share.
static LogicalResult verifyAllToAllV(Operation *op, RankedTensorType input,
                                     RankedTensorType output,
                                     Type sendCounts, Type recvCounts) {
  if (failed(verifyLike(op, input, output, "output", /*skipDim=*/0)))
    return failure();
  if (ShapedType::isDynamic(output.getDimSize(0)))
    return op->emitOpError()
           << "'output' leading dimension must be static (the receive "
              "capacity)";
  if (recvCounts != sendCounts)
    return op->emitOpError() << "'recv_counts' type " << recvCounts
                             << " must match 'send_counts' type "
                             << sendCounts;
  return success();
}

static LogicalResult verifyCountsForGroup(Operation *op, FlatSymbolRefAttr grid,
                                          ArrayRef<int16_t> axes,
                                          RankedTensorType sendCounts,
                                          SymbolTableCollection &symbolTable) {
  FailureOr<int64_t> groupSize = verifyGroup(op, grid, axes, symbolTable);
  if (failed(groupSize))
    return failure();
  int64_t entries = sendCounts.getDimSize(0);
  if (ShapedType::isDynamic(*groupSize) || ShapedType::isDynamic(entries) ||
      entries == *groupSize)
    return success();
  return op->emitOpError() << "'send_counts' has " << entries
                           << " entries, expected " << *groupSize
                           << " (the group size)";
}

LogicalResult AllToAllVOp::verify() {
  return verifyAllToAllV(*this, tensorType(getInput()),
                         tensorType(getOutput()),
                         getSendCounts().getType(), getRecvCounts().getType());
}

LogicalResult
AllToAllVOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  return verifyCountsForGroup(*this, getGridAttr(), getAxes(),
                              tensorType(getSendCounts()), symbolTable);
}

//===----------------------------------------------------------------------===//
// moeflow.all_to_all_v_start / moeflow.wait
//===----------------------------------------------------------------------===//

LogicalResult AllToAllVStartOp::verify() {
  ArrayRef<Type> types = getEvent().getType().getResultTypes();
  if (types.size() != 2)
    return emitOpError() << "the event must list the types of 'output' and "
                            "'recv_counts', got "
                         << types.size() << " type(s)";
  auto output = dyn_cast<RankedTensorType>(types[0]);
  if (!output || output.getRank() == 0)
    return emitOpError() << "the event's first type ('output') must be a "
                            "ranked tensor of rank >= 1, got "
                         << types[0];
  if (failed(verifyAllToAllV(*this, tensorType(getInput()), output,
                             getSendCounts().getType(), types[1])))
    return failure();

  // Every started collective is waited exactly once, on every path: one use,
  // a wait in the start's block.
  Value event = getEvent();
  size_t uses = std::distance(event.use_begin(), event.use_end());
  if (uses != 1)
    return emitOpError() << "the started collective must be waited exactly "
                            "once, but its event has "
                         << uses << " uses";
  Operation *user = *event.user_begin();
  if (!isa<WaitOp>(user))
    return emitOpError() << "its event is used by '" << user->getName()
                         << "'; only moeflow.wait may use it";
  if (user->getBlock() != getOperation()->getBlock())
    return emitOpError() << "must be waited in the block that starts it (a "
                            "wait in a nested region may not run)";
  return success();
}

LogicalResult
AllToAllVStartOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  return verifyCountsForGroup(*this, getGridAttr(), getAxes(),
                              tensorType(getSendCounts()), symbolTable);
}

LogicalResult WaitOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> location, ValueRange operands,
    DictionaryAttr, OpaqueProperties, RegionRange,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.empty())
    return failure();
  auto event = dyn_cast<EventType>(operands[0].getType());
  if (!event)
    return emitOptionalError(location, "'event' must be an !moeflow.event");
  llvm::append_range(inferredReturnTypes, event.getResultTypes());
  return success();
}

LogicalResult WaitOp::verify() {
  Operation *start = getEvent().getDefiningOp();
  if (!isa_and_nonnull<AllToAllVStartOp>(start))
    return emitOpError() << "'event' must be the result of a moeflow start "
                            "op (moeflow.all_to_all_v_start)";
  return success();
}

//===----------------------------------------------------------------------===//
// moeflow.all_gather
//===----------------------------------------------------------------------===//

LogicalResult AllGatherOp::verify() {
  if (failed(verifyDimAttr(*this, getInput(), getDim())))
    return failure();
  return verifyLike(*this, getInput(), getResult(), "result", getDim());
}

LogicalResult
AllGatherOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<int64_t> groupSize =
      verifyGroup(*this, getGridAttr(), getAxes(), symbolTable);
  if (failed(groupSize))
    return failure();
  int64_t dim = getDim();
  int64_t in = getInput().getType().getDimSize(dim);
  int64_t out = getResult().getType().getDimSize(dim);
  if (ShapedType::isDynamic(*groupSize) || ShapedType::isDynamic(in) ||
      ShapedType::isDynamic(out) || out == in * *groupSize)
    return success();
  return emitOpError() << "'result' dimension " << dim << " is " << out
                       << ", expected " << in * *groupSize << " ('input' "
                       << "dimension " << dim << " times the group size "
                       << *groupSize << ")";
}

//===----------------------------------------------------------------------===//
// moeflow.reduce_scatter
//===----------------------------------------------------------------------===//

LogicalResult ReduceScatterOp::verify() {
  if (failed(verifyDimAttr(*this, getInput(), getDim())))
    return failure();
  return verifyLike(*this, getInput(), getResult(), "result", getDim());
}

LogicalResult
ReduceScatterOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<int64_t> groupSize =
      verifyGroup(*this, getGridAttr(), getAxes(), symbolTable);
  if (failed(groupSize))
    return failure();
  int64_t dim = getDim();
  int64_t in = getInput().getType().getDimSize(dim);
  int64_t out = getResult().getType().getDimSize(dim);
  if (ShapedType::isDynamic(*groupSize) || ShapedType::isDynamic(in))
    return success();
  if (in % *groupSize != 0)
    return emitOpError() << "'input' dimension " << dim << " is " << in
                         << ", not divisible by the group size " << *groupSize;
  if (ShapedType::isDynamic(out) || out == in / *groupSize)
    return success();
  return emitOpError() << "'result' dimension " << dim << " is " << out
                       << ", expected " << in / *groupSize << " ('input' "
                       << "dimension " << dim << " divided by the group size "
                       << *groupSize << ")";
}

//===----------------------------------------------------------------------===//
// moeflow.all_reduce
//===----------------------------------------------------------------------===//

LogicalResult
AllReduceOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  return verifyGroup(*this, getGridAttr(), getAxes(), symbolTable);
}

//===----------------------------------------------------------------------===//
// moeflow.send / moeflow.recv
//===----------------------------------------------------------------------===//

LogicalResult SendOp::verify() {
  return verifyAbsolutePeer(*this, getPeer(), getRelative());
}

LogicalResult SendOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<int64_t> groupSize =
      verifyGroup(*this, getGridAttr(), getAxes(), symbolTable);
  if (failed(groupSize))
    return failure();
  return verifyPeerInGroup(*this, getPeer(), getRelative(), *groupSize);
}

LogicalResult RecvOp::verify() {
  return verifyAbsolutePeer(*this, getPeer(), getRelative());
}

LogicalResult RecvOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<int64_t> groupSize =
      verifyGroup(*this, getGridAttr(), getAxes(), symbolTable);
  if (failed(groupSize))
    return failure();
  return verifyPeerInGroup(*this, getPeer(), getRelative(), *groupSize);
}

//===----------------------------------------------------------------------===//
// moeflow.prefetch
//===----------------------------------------------------------------------===//

LogicalResult PrefetchOp::verify() {
  moe::MemoryTier from = getFrom().getTier(), to = getTo().getTier();
  if (from != to)
    return success();
  return emitOpError() << "'from' and 'to' must be different tiers, both are "
                       << moe::stringifyMemoryTier(from);
}

LogicalResult PrefetchExpertsOp::verify() {
  moe::MemoryTier from = getFrom().getTier(), to = getTo().getTier();
  if (from == to)
    return emitOpError() << "'from' and 'to' must be different tiers, both "
                            "are "
                         << moe::stringifyMemoryTier(from);
  auto type = cast<RankedTensorType>(getInput().getType());
  if (type.getRank() == 0 || ShapedType::isDynamic(type.getDimSize(0)))
    return emitOpError() << "'input' must have a static leading (expert) "
                            "dimension, got "
                         << type;
  return success();
}

LogicalResult AwaitExpertsOp::verify() {
  if (!getInput().getDefiningOp<PrefetchExpertsOp>())
    return emitOpError() << "'input' must be the result of a "
                            "moeflow.prefetch_experts";
  return success();
}

#define GET_OP_CLASSES
#include "moeflow/IR/MoEFlowOps.cpp.inc"
