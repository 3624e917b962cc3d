//===- MoEFlowToRuntime.cpp - convert-moeflow-to-runtime -------------------===//
//
// Each moeflow collective becomes one call of the runtime's `moert_comm_*`
// C ABI (docs/multi-rank.md §4) on the buffers of its tensors: operands
// through `bufferization.to_buffer read_only`, results in fresh
// `memref.alloc`s wrapped by `bufferization.to_tensor restrict writable`, so
// that one-shot bufferization (which runs next in moe-cpu-pipeline) turns the
// whole function into buffers. Pointers are the aligned pointer plus the
// offset, counts are i64 (i32 counts are widened), a group is the bit mask
// of its grid axes, dtypes are moert_dtype_t and reductions moeflow's enum.
//
// A host-to-hbm `moeflow.prefetch` becomes a `moert_tier_fetch_start` of its
// bytes where the prefetch is and a `moert_tier_fetch_wait` just before the
// first use of its result (runtime/src/core/TierAbi.h); the runtime owns the
// destination, which the wait returns as a `memref<?xi8>` that the result
// views (read-only: a tier-cache entry is shared by later runs); with
// release-prefetched, a `moert_tier_fetch_release` gives the buffer back
// after its last use.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEFlowToRuntime/MoEFlowToRuntime.h"
#include "moe/Conversion/Passes.h"
#include "moeflow/IR/MoEFlowOps.h"

#include "moert/bundle_format.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

#if __has_include("comm/CommAbi.h")
// The runtime's declarations: the calls built here must match them.
#include "comm/CommAbi.h"
#include <type_traits>
static_assert(std::is_same_v<decltype(&moert_comm_grid_index),
                             int64_t (*)(int32_t)>);
static_assert(std::is_same_v<decltype(&moert_comm_all_to_all_v),
                             void (*)(int32_t, const void *, const int64_t *,
                                      int64_t, void *, int64_t *, int64_t,
                                      int64_t)>);
static_assert(std::is_same_v<decltype(&moert_comm_all_to_all_v_start),
                             int64_t (*)(int32_t, const void *,
                                         const int64_t *, int64_t, void *,
                                         int64_t *, int64_t, int64_t)>);
static_assert(std::is_same_v<decltype(&moert_comm_all_to_all_v_wait),
                             void (*)(int64_t, void *, int64_t *)>);
static_assert(std::is_same_v<decltype(&moert_comm_all_gather),
                             void (*)(int32_t, const void *, void *, int64_t,
                                      int64_t)>);
static_assert(std::is_same_v<decltype(&moert_comm_reduce_scatter),
                             void (*)(int32_t, const void *, void *, int64_t,
                                      int32_t, int32_t)>);
static_assert(std::is_same_v<decltype(&moert_comm_all_reduce),
                             void (*)(int32_t, const void *, void *, int64_t,
                                      int32_t, int32_t)>);
static_assert(std::is_same_v<decltype(&moert_comm_send),
                             void (*)(int32_t, int64_t, const void *,
                                      int64_t)>);
static_assert(std::is_same_v<decltype(&moert_comm_recv),
                             void (*)(int32_t, int64_t, void *, int64_t)>);
static_assert(MOERT_COMM_SUM == 0 && MOERT_COMM_MAX == 1 &&
              MOERT_COMM_MIN == 2);
#endif

#if __has_include("core/TierAbi.h")
// The memory-tier ABI: the prefetch's start, wait and release. The wait is
// declared `(i64) -> memref<?xi8>` with llvm.emit_c_interface, so compiled
// code calls `_mlir_ciface_moert_tier_fetch_wait(&descriptor, handle)`, the
// descriptor being MLIR's for a 1-D memref.
#include "core/TierAbi.h"
#include <cstddef>
#include <type_traits>
static_assert(std::is_same_v<decltype(&moert_tier_fetch_start),
                             int64_t (*)(const void *, int64_t)>);
static_assert(std::is_same_v<decltype(&_mlir_ciface_moert_tier_fetch_wait),
                             void (*)(moert_tier_buffer_t *, int64_t)>);
static_assert(std::is_same_v<decltype(&moert_tier_fetch_release),
                             void (*)(int64_t)>);
static_assert(std::is_same_v<decltype(&moert_tier_fetch_experts_start),
                             int64_t (*)(const void *, int64_t, int64_t,
                                         const int32_t *, int64_t)>);
static_assert(
    std::is_same_v<decltype(&_mlir_ciface_moert_tier_fetch_experts_wait),
                   void (*)(moert_tier_buffer_t *, int64_t, const int32_t *,
                            int64_t)>);
static_assert(sizeof(moert_tier_buffer_t) == 5 * sizeof(int64_t) &&
                  offsetof(moert_tier_buffer_t, aligned) == 8 &&
                  offsetof(moert_tier_buffer_t, offset) == 16 &&
                  offsetof(moert_tier_buffer_t, size) == 24 &&
                  offsetof(moert_tier_buffer_t, stride) == 32,
              "moert_tier_buffer_t is the descriptor of memref<?xi8>");
#endif

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOEFLOWTORUNTIME
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

static_assert(static_cast<int>(moeflow::Reduction::sum) == 0 &&
                  static_cast<int>(moeflow::Reduction::max) == 1 &&
                  static_cast<int>(moeflow::Reduction::min) == 2,
              "the ABI's reduction codes are moeflow's enum values");

//===----------------------------------------------------------------------===//
// What can be lowered
//===----------------------------------------------------------------------===//

/// Bytes per element; 0 for types that are not whole-byte ints or floats.
static int64_t elementBytes(Type type) {
  if (!type.isIntOrFloat() || type.getIntOrFloatBitWidth() % 8 != 0)
    return 0;
  return type.getIntOrFloatBitWidth() / 8;
}

/// moert_dtype_t of `type`; MOERT_DTYPE_INVALID when none.
static moert_dtype_t dtypeOf(Type type) {
  if (type.isF32())
    return MOERT_DTYPE_F32;
  if (type.isF16())
    return MOERT_DTYPE_F16;
  if (type.isBF16())
    return MOERT_DTYPE_BF16;
  if (type.isInteger(32))
    return MOERT_DTYPE_I32;
  if (type.isInteger(64))
    return MOERT_DTYPE_I64;
  return MOERT_DTYPE_INVALID;
}

/// The ABI's group: the bit mask of the axes, which must be ascending (the
/// moeflow group index linearises the axes in the order listed, the ABI
/// with the lowest axis most significant).
static FailureOr<int32_t> groupMask(Operation *op, ArrayRef<int16_t> axes) {
  int32_t mask = 0;
  int16_t previous = -1;
  for (int16_t axis : axes) {
    if (axis <= previous)
      return op->emitOpError()
             << "group axes must be listed in ascending order for the "
                "runtime's group numbering (docs/multi-rank.md §1)";
    if (axis >= 31)
      return op->emitOpError() << "grid axis " << axis
                               << " does not fit the runtime's 31-axis mask";
    mask |= 1 << axis;
    previous = axis;
  }
  return mask;
}

/// Checks a tensor the lowering passes by pointer: whole-byte elements and
/// static dimensions (except leading dimension 0 when `dynamicLeading`).
static LogicalResult checkTensor(Operation *op, Value value, StringRef name,
                                 bool dynamicLeading = false) {
  auto type = cast<RankedTensorType>(value.getType());
  if (elementBytes(type.getElementType()) == 0)
    return op->emitOpError()
           << "'" << name << "' element type " << type.getElementType()
           << " has no whole-byte size for the runtime";
  for (auto [dim, size] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(size) && !(dynamicLeading && dim == 0))
      return op->emitOpError()
             << "'" << name << "' dimension " << dim
             << " is dynamic; convert-moeflow-to-runtime needs static sizes "
                "here";
  return success();
}

/// Checks that the bytes of `input` (static) fit an i64 for the runtime.
static LogicalResult checkTensorBytes(Operation *op, Value input) {
  auto type = cast<RankedTensorType>(input.getType());
  uint64_t bytes = elementBytes(type.getElementType());
  for (int64_t size : type.getShape())
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(size), &bytes) ||
        bytes > static_cast<uint64_t>(INT64_MAX))
      return op->emitOpError() << "'input' of type " << type
                               << " has more bytes than an i64 counts";
  return success();
}

/// Checks a prefetch's tiers (host to hbm, the only copy the runtime makes)
/// and its `input` (static, whole-byte elements, bytes that fit an i64).
static LogicalResult checkHostToHbm(Operation *op, moe::TierAttr fromAttr,
                                    moe::TierAttr toAttr, Value input) {
  moe::MemoryTier from = fromAttr.getTier(), to = toAttr.getTier();
  if (from != moe::MemoryTier::host || to != moe::MemoryTier::hbm)
    return op->emitOpError()
           << "only host to hbm prefetches lower to the runtime (got "
           << moe::stringifyMemoryTier(from) << " to "
           << moe::stringifyMemoryTier(to) << ")";
  if (failed(checkTensor(op, input, "input")))
    return failure();
  return checkTensorBytes(op, input);
}

static LogicalResult checkReducible(Operation *op, Value value) {
  Type element = getElementTypeOrSelf(value.getType());
  if (dtypeOf(element) != MOERT_DTYPE_INVALID)
    return success();
  return op->emitOpError() << "element type " << element
                           << " has no runtime dtype (f32, f16, bf16, i32, "
                              "i64) to reduce";
}

/// The group size of `op`'s static grid axes; failure (with an error) when
/// one is dynamic.
static FailureOr<int64_t> staticGroupSize(Operation *op,
                                          FlatSymbolRefAttr gridName,
                                          ArrayRef<int16_t> axes) {
  auto grid = SymbolTable::lookupNearestSymbolFrom<shard::GridOp>(op, gridName);
  if (!grid)
    return op->emitOpError() << "'" << gridName
                             << "' does not name a shard.grid";
  int64_t size = 1;
  for (int16_t axis : axes) {
    int64_t extent = grid.getShape()[axis];
    if (ShapedType::isDynamic(extent))
      return op->emitOpError() << "a relative peer needs the group size, but "
                                  "grid axis "
                               << axis << " of " << gridName << " is dynamic";
    size *= extent;
  }
  return size;
}

/// Located errors for whatever the patterns could not lower.
static LogicalResult checkLowerable(Operation *op) {
  auto group = [&](FlatSymbolRefAttr, ArrayRef<int16_t> axes) {
    return succeeded(groupMask(op, axes)) ? success() : failure();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](moeflow::AllToAllVOp o) {
        if (failed(group(o.getGridAttr(), o.getAxes())) ||
            failed(checkTensor(op, o.getInput(), "input",
                               /*dynamicLeading=*/true)) ||
            failed(checkTensor(op, o.getOutput(), "output")) ||
            failed(checkTensor(op, o.getSendCounts(), "send_counts")))
          return failure();
        return success();
      })
      .Case([&](moeflow::AllToAllVStartOp o) {
        // The output shares the input's element type and trailing
        // dimensions, and has a static capacity (the op's verifier).
        if (failed(group(o.getGridAttr(), o.getAxes())) ||
            failed(checkTensor(op, o.getInput(), "input",
                               /*dynamicLeading=*/true)) ||
            failed(checkTensor(op, o.getSendCounts(), "send_counts")))
          return failure();
        return success();
      })
      .Case([&](moeflow::AllGatherOp o) {
        if (failed(group(o.getGridAttr(), o.getAxes())) ||
            failed(checkTensor(op, o.getInput(), "input")) ||
            failed(checkTensor(op, o.getResult(), "result")))
          return failure();
        return success();
      })
      .Case([&](moeflow::ReduceScatterOp o) {
        if (failed(group(o.getGridAttr(), o.getAxes())) ||
            failed(checkTensor(op, o.getInput(), "input")) ||
            failed(checkTensor(op, o.getResult(), "result")) ||
            failed(checkReducible(op, o.getInput())))
          return failure();
        ArrayRef<int64_t> shape =
            cast<RankedTensorType>(o.getInput().getType()).getShape();
        for (int64_t d = 0; d < static_cast<int64_t>(o.getDim()); ++d)
          if (shape[d] != 1)
            return LogicalResult(
                op->emitOpError()
                << "the runtime scatters along dimension 0 only; dimension "
                << o.getDim() << " is preceded by dimension " << d
                << " of size " << shape[d]);
        return success();
      })
      .Case([&](moeflow::AllReduceOp o) {
        if (failed(group(o.getGridAttr(), o.getAxes())) ||
            failed(checkTensor(op, o.getInput(), "input")) ||
            failed(checkReducible(op, o.getInput())))
          return failure();
        return success();
      })
      .Case([&](moeflow::SendOp o) {
        if (failed(group(o.getGridAttr(), o.getAxes())) ||
            failed(checkTensor(op, o.getInput(), "input")))
          return failure();
        if (o.getRelative() &&
            failed(staticGroupSize(op, o.getGridAttr(), o.getAxes())))
          return failure();
        return success();
      })
      .Case([&](moeflow::RecvOp o) {
        if (failed(group(o.getGridAttr(), o.getAxes())) ||
            failed(checkTensor(op, o.getResult(), "result")))
          return failure();
        if (o.getRelative() &&
            failed(staticGroupSize(op, o.getGridAttr(), o.getAxes())))
          return failure();
        return success();
      })
      .Case([&](moeflow::PrefetchOp o) {
        return checkHostToHbm(op, o.getFrom(), o.getTo(), o.getInput());
      })
      .Case([&](moeflow::PrefetchExpertsOp o) -> LogicalResult {
        if (failed(checkHostToHbm(op, o.getFrom(), o.getTo(), o.getInput())) ||
            (o.getPredicted() &&
             failed(checkTensor(op, o.getPredicted(), "predicted"))))
          return failure();
        // The buffer holds the predicted experts only: one await completes
        // it, and nothing else may read it.
        if (!o.getResult().hasOneUse() ||
            !isa<moeflow::AwaitExpertsOp>(*o.getResult().user_begin())) {
          InFlightDiagnostic diagnostic =
              op->emitOpError()
              << "result must have exactly one use, a moeflow.await_experts "
                 "(it holds only the predicted experts until then)";
          for (Operation *user : o.getResult().getUsers())
            if (!isa<moeflow::AwaitExpertsOp>(user))
              diagnostic.attachNote(user->getLoc())
                  << "read here by '" << user->getName() << "'";
          return diagnostic;
        }
        return success();
      })
      .Case([&](moeflow::AwaitExpertsOp o) -> LogicalResult {
        if (o.getInput().getParentBlock() != op->getBlock())
          return op->emitOpError() << "must be in the block of its "
                                      "moeflow.prefetch_experts";
        return checkTensor(op, o.getRouted(), "routed");
      })
      .Default([](Operation *) { return success(); });
}

//===----------------------------------------------------------------------===//
// Call building
//===----------------------------------------------------------------------===//

namespace {

/// Builds the calls of one collective at the rewriter's insertion point.
class CallBuilder {
public:
  CallBuilder(PatternRewriter &rewriter, Operation *op)
      : rewriter(rewriter), op(op), loc(op->getLoc()),
        pointerType(LLVM::LLVMPointerType::get(rewriter.getContext())) {}

  Value i32(int64_t value) {
    return arith::ConstantIntOp::create(rewriter, loc, rewriter.getI32Type(),
                                        value);
  }
  Value i64(int64_t value) {
    return arith::ConstantIntOp::create(rewriter, loc, rewriter.getI64Type(),
                                        value);
  }
  Value toI64(Value index) {
    return arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(),
                                      index);
  }

  /// The read-only buffer of `tensor` (identity layout: contiguous).
  Value buffer(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    return bufferization::ToBufferOp::create(rewriter, loc, memrefType, tensor,
                                             /*read_only=*/true);
  }

  /// A fresh buffer for a result of `type` and the tensor that reads it
  /// once the call has written it.
  std::pair<Value, Value> allocate(RankedTensorType type) {
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    Value memref = memref::AllocOp::create(rewriter, loc, memrefType);
    return {memref, Value()};
  }
  Value tensorOf(Value memref, RankedTensorType type) {
    return bufferization::ToTensorOp::create(rewriter, loc, type, memref,
                                             /*restrict=*/true,
                                             /*writable=*/true);
  }

  /// The address of `memref`'s first element, as `!llvm.ptr`.
  Value pointer(Value memref) {
    auto type = cast<MemRefType>(memref.getType());
    Value base =
        memref::ExtractAlignedPointerAsIndexOp::create(rewriter, loc, memref);
    auto metadata =
        memref::ExtractStridedMetadataOp::create(rewriter, loc, memref);
    Value offsetBytes = arith::MulIOp::create(
        rewriter, loc, metadata.getOffset(),
        arith::ConstantIndexOp::create(rewriter, loc,
                                       elementBytes(type.getElementType())));
    Value address = toI64(
        arith::AddIOp::create(rewriter, loc, base, offsetBytes).getResult());
    return LLVM::IntToPtrOp::create(rewriter, loc, pointerType, address);
  }

  /// Dimension `dim` of `memref` as an i64.
  Value dimension(Value memref, int64_t dim) {
    return toI64(memref::DimOp::create(rewriter, loc, memref, dim));
  }

  /// Calls `name` (declared in the module on first use; with `cInterface`,
  /// the declaration has llvm.emit_c_interface: a memref result comes back
  /// through `_mlir_ciface_<name>`).
  Value call(StringRef name, ValueRange arguments, Type result = Type(),
             bool cInterface = false) {
    auto module = op->getParentOfType<ModuleOp>();
    SmallVector<Type> results;
    if (result)
      results.push_back(result);
    auto type = FunctionType::get(rewriter.getContext(),
                                  TypeRange(arguments), results);
    if (!SymbolTable::lookupSymbolIn(module, name)) {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(module.getBody());
      auto decl = func::FuncOp::create(rewriter, module.getLoc(), name, type);
      decl.setPrivate();
      if (cInterface)
        decl->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                      rewriter.getUnitAttr());
    }
    auto call = func::CallOp::create(rewriter, loc, name, results, arguments);
    return result ? call.getResult(0) : Value();
  }

  Type pointerTy() const { return pointerType; }

private:
  PatternRewriter &rewriter;
  Operation *op;
  Location loc;
  Type pointerType;
};

} // namespace

/// Elements of a static shape.
static int64_t elementsOf(ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t size : shape)
    count *= size;
  return count;
}

/// Bytes of a static tensor type (checkLowerable checks they fit an i64).
static int64_t bytesOf(RankedTensorType type) {
  return elementsOf(type.getShape()) * elementBytes(type.getElementType());
}

/// The rank's index in the group `axes` (mixed radix, lowest axis most
/// significant) from moert_comm_grid_index, as an i64.
static Value groupIndex(CallBuilder &calls, PatternRewriter &rewriter,
                        Location loc, shard::GridOp grid,
                        ArrayRef<int16_t> axes) {
  Value index = calls.i64(0);
  for (int16_t axis : axes) {
    Value scaled = arith::MulIOp::create(rewriter, loc, index,
                                         calls.i64(grid.getShape()[axis]));
    Value coordinate = calls.call("moert_comm_grid_index",
                                  ValueRange{calls.i32(axis)},
                                  rewriter.getI64Type());
    index = arith::AddIOp::create(rewriter, loc, scaled, coordinate);
  }
  return index;
}

/// The peer's index in the group: `peer`, or `(r + peer) mod G` when relative.
template <typename PointToPointOp>
static Value peerIndex(CallBuilder &calls, PatternRewriter &rewriter,
                       PointToPointOp op) {
  if (!op.getRelative())
    return calls.i64(op.getPeer());
  auto grid = SymbolTable::lookupNearestSymbolFrom<shard::GridOp>(
      op, op.getGridAttr());
  int64_t size = 1;
  for (int16_t axis : op.getAxes())
    size *= grid.getShape()[axis];
  Location loc = op.getLoc();
  Value self = groupIndex(calls, rewriter, loc, grid, op.getAxes());
  int64_t shift = ((op.getPeer() % size) + size) % size;
  Value sum = arith::AddIOp::create(rewriter, loc, self, calls.i64(shift));
  return arith::RemSIOp::create(rewriter, loc, sum, calls.i64(size));
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// Where the buffer of a prefetch's `result` is last used in `block`: the
/// latest op of `block` that is or holds a use of `result` or of a tensor
/// that may alias it (bufferization's aliasing: a slice, a reshape, a
/// loop's result carrying it, and every tensor result of an op bufferization
/// does not know). Null when the buffer escapes `block` (returned, yielded
/// from it, or used in another block): then nothing can free it early.
static Operation *lastUseOfBuffer(Block *block, Value result) {
  bufferization::BufferizationOptions options;
  bufferization::AnalysisState state(options);
  llvm::SetVector<Value> aliases;
  aliases.insert(result);
  Operation *last = nullptr;
  for (size_t next = 0; next < aliases.size(); ++next) {
    for (OpOperand &use : aliases[next].getUses()) {
      Operation *user = use.getOwner();
      Operation *ancestor = block->findAncestorOpInBlock(*user);
      if (!ancestor ||
          (ancestor == user && user->hasTrait<OpTrait::IsTerminator>()))
        return nullptr;
      if (!last || last->isBeforeInBlock(ancestor))
        last = ancestor;
      // A nested region's terminator hands the tensor to its parent op.
      if (user->hasTrait<OpTrait::IsTerminator>()) {
        for (Value parentResult : user->getParentOp()->getResults())
          if (isa<TensorType>(parentResult.getType()))
            aliases.insert(parentResult);
        continue;
      }
      for (const bufferization::AliasingValue &alias :
           state.getAliasingValues(use))
        if (isa<TensorType>(alias.value.getType()))
          aliases.insert(alias.value);
    }
  }
  return last;
}

namespace {

/// The buffers and sizes of one all_to_all_v's call, blocking or started:
/// counts widened to i64, the send rows and counts read, the receive rows
/// and counts allocated, and the arguments of the ABI call after the group.
struct AllToAllCall {
  RankedTensorType outputType, countsType, wideCounts;
  Value recv, recvCounts;
  SmallVector<Value> arguments;

  AllToAllCall(CallBuilder &calls, PatternRewriter &rewriter, Location loc,
               int32_t mask, Value input, Value sendCounts,
               RankedTensorType output)
      : outputType(output),
        countsType(cast<RankedTensorType>(sendCounts.getType())),
        wideCounts(countsType.clone(rewriter.getI64Type())) {
    if (!countsType.getElementType().isInteger(64))
      sendCounts = arith::ExtSIOp::create(rewriter, loc, wideCounts, sendCounts);
    Value send = calls.buffer(input);
    Value sendCountsBuffer = calls.buffer(sendCounts);
    recv = calls.allocate(outputType).first;
    recvCounts = calls.allocate(wideCounts).first;
    int64_t rowBytes = elementsOf(outputType.getShape().drop_front()) *
                       elementBytes(outputType.getElementType());
    arguments = {calls.i32(mask),
                 calls.pointer(send),
                 calls.pointer(sendCountsBuffer),
                 calls.dimension(send, 0),
                 calls.pointer(recv),
                 calls.pointer(recvCounts),
                 calls.i64(outputType.getDimSize(0)),
                 calls.i64(rowBytes)};
  }

  /// The received rows and counts (in the op's count type) as tensors.
  std::pair<Value, Value> results(CallBuilder &calls,
                                  PatternRewriter &rewriter,
                                  Location loc) const {
    Value output = calls.tensorOf(recv, outputType);
    Value counts = calls.tensorOf(recvCounts, wideCounts);
    if (!countsType.getElementType().isInteger(64))
      counts = arith::TruncIOp::create(rewriter, loc, countsType, counts);
    return {output, counts};
  }
};

struct LowerAllToAllV : OpRewritePattern<moeflow::AllToAllVOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(moeflow::AllToAllVOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<int32_t> mask = groupMask(op, op.getAxes());
    if (failed(mask))
      return failure();
    CallBuilder calls(rewriter, op);
    AllToAllCall call(calls, rewriter, op.getLoc(), *mask, op.getInput(),
                      op.getSendCounts(),
                      cast<RankedTensorType>(op.getOutput().getType()));
    calls.call("moert_comm_all_to_all_v", call.arguments);
    auto [output, counts] = call.results(calls, rewriter, op.getLoc());
    rewriter.replaceOp(op, {output, counts});
    return success();
  }
};

/// A start and its wait (the event's only use, in the same block: the
/// start's verifier) together: the start call where the start is, reading
/// the operands' buffers; the wait call where the wait is, naming the
/// receive buffers again, so that they stay alive until the collective has
/// written them; the results read those buffers after the wait. (The wait's
/// pointer extraction is what keeps them alive when the results are unused:
/// pipelines place buffer deallocation before any CSE could merge it with
/// the start's, as moe-cpu-pipeline does.)
struct LowerAllToAllVStart : OpRewritePattern<moeflow::AllToAllVStartOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(moeflow::AllToAllVStartOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<int32_t> mask = groupMask(op, op.getAxes());
    if (failed(mask) || !op.getEvent().hasOneUse())
      return failure();
    auto wait = dyn_cast<moeflow::WaitOp>(*op.getEvent().user_begin());
    if (!wait)
      return failure();
    CallBuilder calls(rewriter, op);
    AllToAllCall call(calls, rewriter, op.getLoc(), *mask, op.getInput(),
                      op.getSendCounts(),
                      cast<RankedTensorType>(op.getOutputType()));
    Value handle = calls.call("moert_comm_all_to_all_v_start", call.arguments,
                              rewriter.getI64Type());

    rewriter.setInsertionPoint(wait);
    CallBuilder waitCalls(rewriter, wait);
    waitCalls.call("moert_comm_all_to_all_v_wait",
                   ValueRange{handle, waitCalls.pointer(call.recv),
                              waitCalls.pointer(call.recvCounts)});
    auto [output, counts] = call.results(waitCalls, rewriter, wait.getLoc());
    rewriter.replaceOp(wait, {output, counts});
    rewriter.eraseOp(op);
    return success();
  }
};

struct LowerAllGather : OpRewritePattern<moeflow::AllGatherOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(moeflow::AllGatherOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<int32_t> mask = groupMask(op, op.getAxes());
    if (failed(mask))
      return failure();
    CallBuilder calls(rewriter, op);
    ArrayRef<int64_t> shape =
        cast<RankedTensorType>(op.getInput().getType()).getShape();
    int64_t dim = op.getDim();
    int64_t outer = elementsOf(shape.take_front(dim));
    int64_t blockBytes =
        elementsOf(shape.drop_front(dim)) *
        elementBytes(getElementTypeOrSelf(op.getInput().getType()));
    Value send = calls.buffer(op.getInput());
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Value recv = calls.allocate(resultType).first;
    calls.call("moert_comm_all_gather",
               ValueRange{calls.i32(*mask), calls.pointer(send),
                          calls.pointer(recv), calls.i64(outer),
                          calls.i64(blockBytes)});
    rewriter.replaceOp(op, calls.tensorOf(recv, resultType));
    return success();
  }
};

/// reduce_scatter and all_reduce: (group, send, recv, count, dtype, op).
template <typename ReduceOp>
struct LowerReduction : OpRewritePattern<ReduceOp> {
  LowerReduction(MLIRContext *context, StringRef callee)
      : OpRewritePattern<ReduceOp>(context), callee(callee) {}
  LogicalResult matchAndRewrite(ReduceOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<int32_t> mask = groupMask(op, op.getAxes());
    if (failed(mask))
      return failure();
    CallBuilder calls(rewriter, op);
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Value send = calls.buffer(op.getInput());
    Value recv = calls.allocate(resultType).first;
    calls.call(callee,
               ValueRange{calls.i32(*mask), calls.pointer(send),
                          calls.pointer(recv),
                          calls.i64(elementsOf(resultType.getShape())),
                          calls.i32(dtypeOf(resultType.getElementType())),
                          calls.i32(static_cast<int32_t>(
                              op.getReduction()))});
    rewriter.replaceOp(op, calls.tensorOf(recv, resultType));
    return success();
  }
  StringRef callee;
};

struct LowerSend : OpRewritePattern<moeflow::SendOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(moeflow::SendOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<int32_t> mask = groupMask(op, op.getAxes());
    if (failed(mask))
      return failure();
    CallBuilder calls(rewriter, op);
    auto type = cast<RankedTensorType>(op.getInput().getType());
    Value data = calls.buffer(op.getInput());
    calls.call("moert_comm_send",
               ValueRange{calls.i32(*mask), peerIndex(calls, rewriter, op),
                          calls.pointer(data),
                          calls.i64(bytesOf(type))});
    rewriter.eraseOp(op);
    return success();
  }
};

struct LowerRecv : OpRewritePattern<moeflow::RecvOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(moeflow::RecvOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<int32_t> mask = groupMask(op, op.getAxes());
    if (failed(mask))
      return failure();
    CallBuilder calls(rewriter, op);
    auto type = cast<RankedTensorType>(op.getResult().getType());
    Value data = calls.allocate(type).first;
    calls.call("moert_comm_recv",
               ValueRange{calls.i32(*mask), peerIndex(calls, rewriter, op),
                          calls.pointer(data),
                          calls.i64(bytesOf(type))});
    rewriter.replaceOp(op, calls.tensorOf(data, type));
    return success();
  }
};

/// What a fetch's wait returns: the runtime's buffer as bytes.
static MemRefType fetchedBytesType(PatternRewriter &rewriter) {
  return MemRefType::get({ShapedType::kDynamic}, rewriter.getI8Type());
}

/// The tensor of `type` a fetch's wait returned in `bytes`: a view read
/// through `bufferization.to_tensor restrict`, not writable (a write would
/// copy rather than change a buffer the tier cache may share with later
/// runs).
static Value fetchedTensor(PatternRewriter &rewriter, Location loc,
                           Value bytes, RankedTensorType type) {
  Value view = memref::ViewOp::create(
      rewriter, loc, MemRefType::get(type.getShape(), type.getElementType()),
      bytes, arith::ConstantIndexOp::create(rewriter, loc, 0), ValueRange{});
  return bufferization::ToTensorOp::create(rewriter, loc, type, view,
                                           /*restrict=*/true,
                                           /*writable=*/false);
}

/// `moert_tier_fetch_release(handle)` after `last`, or at the insertion
/// point (right after the wait) when `last` is null.
static void releaseAfter(CallBuilder &calls, PatternRewriter &rewriter,
                         Operation *last, Value handle) {
  if (last)
    rewriter.setInsertionPointAfter(last);
  calls.call("moert_tier_fetch_release", ValueRange{handle});
}

/// A host-to-hbm prefetch (checkLowerable rejects every other pair): the
/// copy starts where the prefetch is, into a buffer the runtime owns; the
/// wait comes just before the op of the block that first uses the result (or
/// holds the use), right after the start when nothing does, and returns the
/// buffer as a `memref<?xi8>`; the result is a `memref.view` of it with the
/// result's type, read through `bufferization.to_tensor restrict` (not
/// writable: a write would copy rather than change a buffer the tier cache
/// may share with later runs). With `release`, a `moert_tier_fetch_release`
/// gives the buffer back after its last use in the block (the buffer's
/// aliases included) and right after the wait when the result is unused.
/// When the buffer escapes the block (returned, yielded, used in another
/// block) there is none: the runtime releases it at the end of the run,
/// after the run's outputs are read. (A release just before the return would
/// come before the copies that later passes insert there, bufferization's
/// for a returned view and moe-map-loops-to-gpu's for a returned buffer the
/// function did not allocate.) When a use is outside the block (a CFG
/// region), the wait follows the start.
struct LowerPrefetch : OpRewritePattern<moeflow::PrefetchOp> {
  LowerPrefetch(MLIRContext *context, bool release)
      : OpRewritePattern<moeflow::PrefetchOp>(context), release(release) {}
  LogicalResult matchAndRewrite(moeflow::PrefetchOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getFrom().getTier() != MemoryTier::host ||
        op.getTo().getTier() != MemoryTier::hbm)
      return failure();
    Block *block = op->getBlock();
    Operation *first = nullptr;
    bool inBlock = true;
    for (Operation *user : op.getResult().getUsers()) {
      Operation *ancestor = block->findAncestorOpInBlock(*user);
      if (!ancestor) {
        inBlock = false;
        break;
      }
      if (!first || ancestor->isBeforeInBlock(first))
        first = ancestor;
    }
    Operation *last = release && inBlock
                          ? lastUseOfBuffer(block, op.getResult())
                          : nullptr;
    // Without users (a driver that does not erase the pure op first), the
    // buffer is released right after the wait.
    bool unused = op.getResult().use_empty();

    CallBuilder calls(rewriter, op);
    auto type = cast<RankedTensorType>(op.getResult().getType());
    Value source = calls.buffer(op.getInput());
    Value handle = calls.call(
        "moert_tier_fetch_start",
        ValueRange{calls.pointer(source), calls.i64(bytesOf(type))},
        rewriter.getI64Type());
    if (inBlock && first)
      rewriter.setInsertionPoint(first);
    Value bytes = calls.call("moert_tier_fetch_wait", ValueRange{handle},
                             fetchedBytesType(rewriter), /*cInterface=*/true);
    rewriter.replaceAllUsesWith(op.getResult(),
                                fetchedTensor(rewriter, op.getLoc(), bytes,
                                              type));
    if (release && (last || unused))
      releaseAfter(calls, rewriter, last, handle);
    rewriter.eraseOp(op);
    return success();
  }
  bool release;
};

/// The pointer to the buffer of an expert-index tensor and its number of
/// indices, as the expert-fetch ABI takes them.
static std::pair<Value, Value> indexArguments(CallBuilder &calls,
                                              Value indices) {
  auto type = cast<RankedTensorType>(indices.getType());
  return {calls.pointer(calls.buffer(indices)),
          calls.i64(elementsOf(type.getShape()))};
}

/// A host-to-hbm prefetch by expert and its await (its only use, in its
/// block: checkLowerable): `moert_tier_fetch_experts_start` where the
/// prefetch is, with the predicted indices (null and 0 without), which the
/// runtime reads during the call; `moert_tier_fetch_experts_wait` where the
/// await is, with the routed indices, returning the buffer as LowerPrefetch's
/// wait does; with `release`, the release after the last use of the await's
/// result in the block (none when it escapes the block).
struct LowerPrefetchExperts : OpRewritePattern<moeflow::PrefetchExpertsOp> {
  LowerPrefetchExperts(MLIRContext *context, bool release)
      : OpRewritePattern<moeflow::PrefetchExpertsOp>(context),
        release(release) {}
  LogicalResult matchAndRewrite(moeflow::PrefetchExpertsOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getFrom().getTier() != MemoryTier::host ||
        op.getTo().getTier() != MemoryTier::hbm ||
        !op.getResult().hasOneUse())
      return failure();
    auto await =
        dyn_cast<moeflow::AwaitExpertsOp>(*op.getResult().user_begin());
    if (!await || await->getBlock() != op->getBlock())
      return failure();
    Block *block = op->getBlock();
    Operation *last =
        release ? lastUseOfBuffer(block, await.getResult()) : nullptr;
    bool unused = await.getResult().use_empty();

    CallBuilder calls(rewriter, op);
    auto type = cast<RankedTensorType>(op.getResult().getType());
    Value source = calls.buffer(op.getInput());
    auto [predicted, count] =
        op.getPredicted()
            ? indexArguments(calls, op.getPredicted())
            : std::pair<Value, Value>{
                  LLVM::ZeroOp::create(rewriter, op.getLoc(),
                                       calls.pointerTy()),
                  calls.i64(0)};
    Value handle = calls.call(
        "moert_tier_fetch_experts_start",
        ValueRange{calls.pointer(source), calls.i64(bytesOf(type)),
                   calls.i64(type.getDimSize(0)), predicted, count},
        rewriter.getI64Type());

    rewriter.setInsertionPoint(await);
    CallBuilder awaitCalls(rewriter, await);
    auto [routed, routedCount] = indexArguments(awaitCalls, await.getRouted());
    Value bytes = awaitCalls.call("moert_tier_fetch_experts_wait",
                                  ValueRange{handle, routed, routedCount},
                                  fetchedBytesType(rewriter),
                                  /*cInterface=*/true);
    rewriter.replaceAllUsesWith(
        await.getResult(),
        fetchedTensor(rewriter, await.getLoc(), bytes, type));
    if (release && (last || unused))
      releaseAfter(awaitCalls, rewriter, last, handle);
    rewriter.eraseOp(await);
    rewriter.eraseOp(op);
    return success();
  }
  bool release;
};

/// shard.process_multi_index: one moert_comm_grid_index call per axis.
struct LowerProcessMultiIndex
    : OpRewritePattern<shard::ProcessMultiIndexOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(shard::ProcessMultiIndexOp op,
                                PatternRewriter &rewriter) const override {
    auto grid =
        SymbolTable::lookupNearestSymbolFrom<shard::GridOp>(op, op.getGridAttr());
    if (!grid)
      return failure();
    SmallVector<int16_t> axes(op.getAxes());
    if (axes.empty())
      for (int16_t axis = 0; axis < grid.getRank(); ++axis)
        axes.push_back(axis);
    CallBuilder calls(rewriter, op);
    SmallVector<Value> indices;
    for (int16_t axis : axes) {
      Value coordinate = calls.call("moert_comm_grid_index",
                                    ValueRange{calls.i32(axis)},
                                    rewriter.getI64Type());
      indices.push_back(arith::IndexCastOp::create(
          rewriter, op.getLoc(), rewriter.getIndexType(), coordinate));
    }
    rewriter.replaceOp(op, indices);
    return success();
  }
};

struct ConvertMoEFlowToRuntimePass
    : mlir::moe::impl::ConvertMoEFlowToRuntimeBase<
          ConvertMoEFlowToRuntimePass> {
  using ConvertMoEFlowToRuntimeBase::ConvertMoEFlowToRuntimeBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    WalkResult checked = module.walk([](Operation *op) {
      return failed(checkLowerable(op)) ? WalkResult::interrupt()
                                        : WalkResult::advance();
    });
    if (checked.wasInterrupted())
      return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    populateMoEFlowToRuntimeConversionPatterns(patterns, releasePrefetched);
    GreedyRewriteConfig config;
    config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(module, std::move(patterns), config))) {
      module.emitError() << "convert-moeflow-to-runtime did not converge";
      return signalPassFailure();
    }
    WalkResult left = module.walk([](Operation *op) {
      if (!isa<moeflow::MoEFlowDialect>(op->getDialect()) &&
          !isa<shard::ProcessMultiIndexOp>(op))
        return WalkResult::advance();
      op->emitError() << "'" << op->getName()
                      << "' has no runtime lowering (convert-moeflow-to-"
                         "runtime)";
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      return signalPassFailure();
    // Grids nothing refers to any more have done their job.
    for (auto grid :
         llvm::make_early_inc_range(module.getOps<shard::GridOp>()))
      if (SymbolTable::symbolKnownUseEmpty(grid, module))
        grid.erase();
  }
};

} // namespace

void mlir::moe::populateMoEFlowToRuntimeConversionPatterns(
    RewritePatternSet &patterns, bool releasePrefetched) {
  MLIRContext *context = patterns.getContext();
  patterns.add<LowerAllToAllV, LowerAllToAllVStart, LowerAllGather, LowerSend,
               LowerRecv, LowerProcessMultiIndex>(context);
  patterns.add<LowerReduction<moeflow::ReduceScatterOp>>(
      context, "moert_comm_reduce_scatter");
  patterns.add<LowerReduction<moeflow::AllReduceOp>>(context,
                                                     "moert_comm_all_reduce");
  patterns.add<LowerPrefetch, LowerPrefetchExperts>(context,
                                                    releasePrefetched);
}
