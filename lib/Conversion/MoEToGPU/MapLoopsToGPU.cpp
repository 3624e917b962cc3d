//===- MapLoopsToGPU.cpp - moe-map-loops-to-gpu ---------------------------===//
//
// Splits each public function (bufferized, linalg already turned into
// parallel loops) into host code and gpu.launch kernels:
//
//   top-level scf.parallel / independent scf.for
//       -> gpu.launch over the flattened iteration space, one iteration per
//          thread (delinearised from blockIdx.x * blockSize + threadIdx.x)
//   top-level scf.parallel storing one 16/32-bit constant to every element
//   of a buffer (a linalg.fill)
//       -> gpu.memset (cuMemsetD16/D32Async through mgpuMemset16/32)
//   other top-level ops touching memory
//       -> a one-thread gpu.launch around the op
//   inside kernels: parallel loops -> sequential scf.for nests, temporaries
//       (memref.alloc of static shape) -> memref.alloca, their deallocs dropped
//   host: memref.alloc/dealloc -> gpu.alloc/dealloc, memref.get_global ->
//       a device copy of the constant
//
// Upstream's gpu-map-parallel-loops + convert-parallel-loops-to-gpu map loop
// dimensions to grid and block dimensions one to one, which needs bounds that
// fit the hardware limits; flattening handles any trip count with one rule.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/IR/MoEDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEMAPLOOPSTOGPU
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Ops that the host may run: they compute on scalars or on buffer metadata
/// (never on buffer contents), allocate and free, fill device buffers on the
/// stream (gpu.memset), or call the runtime.
bool isHostOp(Operation *op) {
  // A function without a body is the runtime's (the moert_comm_* collectives
  // of convert-moeflow-to-runtime): host code that takes device pointers and
  // orders its own device work on the call's stream. Kernels cannot call it.
  if (auto call = dyn_cast<func::CallOp>(op)) {
    auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
        call, call.getCalleeAttr());
    return callee && callee.isExternal();
  }
  if (isa<memref::AllocOp, memref::DeallocOp, memref::GetGlobalOp,
          memref::SubViewOp, memref::ReinterpretCastOp, memref::CastOp,
          memref::ExpandShapeOp, memref::CollapseShapeOp, memref::DimOp,
          memref::ExtractStridedMetadataOp,
          memref::ExtractAlignedPointerAsIndexOp, memref::ViewOp,
          memref::AssumeAlignmentOp, nvgpu::TmaCreateDescriptorOp,
          gpu::MemsetOp, func::ReturnOp>(op))
    return true;
  if (isa<scf::IfOp, scf::ForOp, scf::YieldOp>(op)) {
    WalkResult nested = op->walk([&](Operation *inner) {
      if (inner == op || isHostOp(inner))
        return WalkResult::advance();
      return WalkResult::interrupt();
    });
    return !nested.wasInterrupted();
  }
  return op->getNumRegions() == 0 && isMemoryEffectFree(op);
}

/// The store of `parallel` if the loop only fills a whole buffer with one
/// constant that gpu.memset can write: bounds 0 to the buffer's static sizes
/// with step 1, a body of one `memref.store %cst, %buf[%iv0, %iv1, ...]`, a
/// buffer of identity layout (the loop covers it contiguously, as the memset
/// does) and an arith.constant of 16 or 32 bits (the widths of upstream's
/// gpu-to-llvm lowering: mgpuMemset16/32 of the value's bits). Null otherwise.
memref::StoreOp matchConstantFill(scf::ParallelOp parallel) {
  Block *body = parallel.getBody();
  if (parallel.getNumResults() != 0 ||
      !llvm::hasSingleElement(body->without_terminator()))
    return {};
  auto store = dyn_cast<memref::StoreOp>(body->front());
  if (!store || !llvm::equal(store.getIndices(), parallel.getInductionVars()))
    return {};
  MemRefType type = store.getMemRefType();
  if (!type.hasStaticShape() || !type.getLayout().isIdentity())
    return {};
  for (auto [d, lower, upper, step] :
       llvm::enumerate(parallel.getLowerBound(), parallel.getUpperBound(),
                       parallel.getStep())) {
    std::optional<int64_t> size = getConstantIntValue(upper);
    if (!isConstantIntValue(lower, 0) || !isConstantIntValue(step, 1) ||
        size != type.getDimSize(d))
      return {};
  }
  Value value = store.getValueToStore();
  Type valueType = value.getType();
  if (!value.getDefiningOp<arith::ConstantOp>() ||
      !isa<IntegerType, FloatType>(valueType))
    return {};
  unsigned width = valueType.getIntOrFloatBitWidth();
  if (width != 16 && width != 32)
    return {};
  return store;
}

/// An index constant.
Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

/// A loop to run in parallel: bounds, and a body block whose leading
/// arguments are the induction variables.
struct ParallelLoop {
  Operation *op;
  SmallVector<Value> lowerBounds, upperBounds, steps;
  Block *body;
};

class LoopMapper {
public:
  LoopMapper(int64_t blockSize, int64_t multiprocessors)
      : blockSize(blockSize), multiprocessors(multiprocessors) {}

  LogicalResult mapFunction(func::FuncOp func) {
    if (!func.getBody().hasOneBlock())
      return func.emitError()
             << "moe-map-loops-to-gpu expects functions with one block "
                "(run it before lowering scf to cf)";
    Block &entry = func.getBody().front();
    SmallVector<Operation *> ops;
    for (Operation &op : entry)
      ops.push_back(&op);
    for (size_t i = 0; i < ops.size();) {
      Operation *op = ops[i];
      if (auto parallel = dyn_cast<scf::ParallelOp>(op)) {
        if (parallel.getNumResults() != 0)
          return parallel.emitError()
                 << "a parallel loop with reductions has no GPU mapping yet";
        // Zero fills of large buffers (linalg.fill) as one-element-a-thread
        // kernels were a large cost in profiles: 338 us for a 268 MB bf16
        // buffer on H200 (0.8 TB/s), where cuMemsetD16Async runs near the
        // copy bandwidth (over 3 TB/s). gpu-async-region orders the memset
        // on the call's stream like the launches.
        if (memref::StoreOp fill = matchConstantFill(parallel)) {
          OpBuilder b(parallel);
          gpu::MemsetOp::create(b, parallel.getLoc(), /*asyncToken=*/Type(),
                                /*asyncDependencies=*/ValueRange{},
                                fill.getMemref(), fill.getValueToStore());
          parallel.erase();
          ++i;
          continue;
        }
        launchParallel({parallel, parallel.getLowerBound(),
                        parallel.getUpperBound(), parallel.getStep(),
                        parallel.getBody()});
        ++i;
        continue;
      }
      if (auto loop = dyn_cast<scf::ForOp>(op);
          loop && loop->hasAttr(MoEDialect::getIndependentIterationsAttrName()) &&
          loop.getNumResults() == 0 && !isHostOp(loop)) {
        launchParallel({loop,
                        {loop.getLowerBound()},
                        {loop.getUpperBound()},
                        {loop.getStep()},
                        loop.getBody()});
        ++i;
        continue;
      }
      // Kernels built earlier (convert-moe-to-gpu) and host ops stay.
      if (isa<gpu::LaunchOp>(op) || isHostOp(op)) {
        ++i;
        continue;
      }
      FailureOr<size_t> next = launchSequentialGroup(entry, ops, i);
      if (failed(next))
        return failure();
      i = *next;
    }
    return success();
  }

  /// Runs ops[first] (which touches device memory) in a one-thread kernel,
  /// together with every later op it must take along: while a value the
  /// kernel defines is used outside it, the next op joins (host ops that do
  /// not use the kernel's values stay on the host, before the launch; ops
  /// touching memory join in order, parallel loops run sequentially). This is
  /// how code between token loops of one iteration (T = 1, where the loops
  /// fold away) runs on the device. Returns the index after the group.
  FailureOr<size_t> launchSequentialGroup(Block &entry,
                                          ArrayRef<Operation *> ops,
                                          size_t first) {
    llvm::SmallPtrSet<Operation *, 16> group;
    SmallVector<Operation *> members;
    auto join = [&](Operation *op) {
      group.insert(op);
      members.push_back(op);
    };
    auto escaping = [&]() -> Operation * {
      for (Operation *member : members)
        for (Value result : member->getResults())
          for (Operation *user : result.getUsers()) {
            Operation *top = entry.findAncestorOpInBlock(*user);
            if (top && !group.contains(top))
              return member;
          }
      return nullptr;
    };
    auto usesGroup = [&](Operation *op) {
      WalkResult found = op->walk([&](Operation *nested) {
        for (Value operand : nested->getOperands())
          if (Operation *definer = operand.getDefiningOp())
            if (group.contains(entry.findAncestorOpInBlock(*definer)))
              return WalkResult::interrupt();
        return WalkResult::advance();
      });
      return found.wasInterrupted();
    };
    join(ops[first]);
    size_t next = first + 1;
    while (Operation *member = escaping()) {
      Operation *op = next < ops.size() ? ops[next] : nullptr;
      if (!op || isa<func::ReturnOp>(op))
        return member->emitError()
               << "the host would need device data: this op reads device "
                  "memory and its result is used outside a kernel";
      ++next;
      bool dependent = usesGroup(op);
      if (isHostOp(op) && !dependent)
        continue;
      if (isa<memref::AllocOp, memref::AllocaOp>(op))
        return op->emitError()
               << "the size of this allocation depends on device data";
      join(op);
    }
    Operation *last = members.back();
    Location loc = last->getLoc();
    OpBuilder b(last);
    Value one = indexConstant(b, loc, 1);
    auto launch = gpu::LaunchOp::create(b, loc, one, one, one, one, one, one);
    Block &body = launch.getBody().front();
    for (Operation *member : members)
      member->moveBefore(&body, body.end());
    OpBuilder atEnd = OpBuilder::atBlockEnd(&body);
    gpu::TerminatorOp::create(atEnd, loc);
    return next;
  }

  /// Inside kernels: parallel loops run sequentially, static temporaries live
  /// on the thread's stack (local memory), nothing is freed.
  LogicalResult finishKernels(func::FuncOp func) {
    SmallVector<gpu::LaunchOp> launches(func.getOps<gpu::LaunchOp>());
    for (gpu::LaunchOp launch : launches) {
      while (true) {
        scf::ParallelOp parallel;
        launch.getBody().walk([&](scf::ParallelOp found) {
          parallel = found;
          return WalkResult::interrupt();
        });
        if (!parallel)
          break;
        if (parallel.getNumResults() != 0)
          return parallel.emitError()
                 << "a parallel loop with reductions has no GPU mapping yet";
        sequentialize(parallel);
      }
      SmallVector<Operation *> toErase;
      WalkResult result = launch.getBody().walk([&](Operation *op) {
        if (isa<memref::DeallocOp>(op)) {
          toErase.push_back(op);
          return WalkResult::advance();
        }
        auto alloc = dyn_cast<memref::AllocOp>(op);
        if (!alloc)
          return WalkResult::advance();
        if (!alloc.getType().hasStaticShape()) {
          alloc.emitError() << "a temporary buffer of dynamic size inside a "
                               "GPU kernel has no lowering yet";
          return WalkResult::interrupt();
        }
        OpBuilder b(alloc);
        auto alloca = memref::AllocaOp::create(b, alloc.getLoc(),
                                               alloc.getType());
        alloc.replaceAllUsesWith(alloca.getResult());
        toErase.push_back(alloc);
        return WalkResult::advance();
      });
      if (result.wasInterrupted())
        return failure();
      for (Operation *op : llvm::reverse(toErase))
        op->erase();
    }
    return success();
  }

  /// Host buffers in device memory: allocations become gpu.alloc, constants
  /// read by kernels are copied to the device, and every device buffer the
  /// function does not return is freed before it returns (bufferization ran
  /// without deallocation on this path). A returned buffer that the function
  /// did not allocate at its top level (an argument, a view of one) is
  /// returned as a fresh copy, so the caller owns every result.
  LogicalResult placeHostBuffers(func::FuncOp func) {
    SmallVector<Operation *> hostOps;
    func.walk([&](Operation *op) {
      if (op->getParentOfType<gpu::LaunchOp>())
        return;
      if (isa<memref::AllocOp, memref::DeallocOp, memref::GetGlobalOp>(op))
        hostOps.push_back(op);
    });
    Block &entry = func.getBody().front();
    SmallVector<Value> owned;
    // Buffers the function frees itself before it returns must not be freed
    // again at the return. (Prefetched weights are no allocations here: the
    // runtime owns them, moert_tier_fetch_wait returns them and
    // moert_tier_fetch_release gives them back; a returned one is copied
    // below, as any buffer the function did not allocate.)
    llvm::SmallPtrSet<Value, 8> freedEarly;
    for (Operation *op : hostOps) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      if (op->getBlock() != &entry)
        return op->emitError()
               << "an allocation inside host control flow has no GPU mapping";
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        auto device = gpu::AllocOp::create(
            b, loc, alloc.getType(), /*asyncToken=*/Type(),
            /*asyncDependencies=*/ValueRange{}, alloc.getDynamicSizes(),
            alloc.getSymbolOperands(), /*hostShared=*/false);
        alloc.replaceAllUsesWith(device.getMemref());
        alloc.erase();
        owned.push_back(device.getMemref());
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        gpu::DeallocOp::create(b, loc, /*asyncToken=*/Type(), ValueRange{},
                               dealloc.getMemref());
        freedEarly.insert(dealloc.getMemref());
        dealloc.erase();
      } else if (auto global = dyn_cast<memref::GetGlobalOp>(op)) {
        // Kernels cannot read host globals: copy the constant once per call.
        b.setInsertionPointAfter(global);
        auto device = gpu::AllocOp::create(
            b, loc, global.getType(), Type(), ValueRange{}, ValueRange{},
            ValueRange{}, /*hostShared=*/false);
        auto copy = gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{},
                                          device.getMemref(), global.getResult());
        global.getResult().replaceAllUsesExcept(device.getMemref(), copy);
        owned.push_back(device.getMemref());
      }
    }

    auto ret = cast<func::ReturnOp>(entry.getTerminator());
    OpBuilder b(ret);
    llvm::SmallPtrSet<Value, 8> returned;
    for (OpOperand &operand : ret->getOpOperands()) {
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      if (!type)
        continue;
      Value root = operand.get();
      while (auto view = root.getDefiningOp<ViewLikeOpInterface>())
        root = view.getViewSource();
      bool ownedRoot = llvm::is_contained(owned, root);
      if (ownedRoot && root == operand.get() && !returned.contains(root)) {
        returned.insert(root);
        continue;
      }
      // A view, an argument or a second return of one buffer: a fresh copy.
      if (!type.hasStaticShape() || !type.getLayout().isIdentity())
        return ret.emitError()
               << "returning a view or an argument of dynamic shape or "
                  "non-identity layout has no GPU mapping yet";
      auto copy = gpu::AllocOp::create(b, ret.getLoc(), type, Type(),
                                       ValueRange{}, ValueRange{}, ValueRange{},
                                       /*hostShared=*/false);
      gpu::MemcpyOp::create(b, ret.getLoc(), TypeRange{}, ValueRange{},
                            copy.getMemref(), operand.get());
      operand.set(copy.getMemref());
      returned.insert(copy.getMemref());
    }
    for (Value buffer : owned)
      if (!returned.contains(buffer) && !freedEarly.contains(buffer))
        gpu::DeallocOp::create(b, ret.getLoc(), Type(), ValueRange{}, buffer);
    return success();
  }

private:
  void launchParallel(const ParallelLoop &loop) {
    Location loc = loop.op->getLoc();
    OpBuilder b(loop.op);
    Value zero = indexConstant(b, loc, 0), one = indexConstant(b, loc, 1);
    // Trip counts (never negative) and their product.
    SmallVector<Value> trips;
    Value total = one;
    for (auto [lower, upper, step] :
         llvm::zip(loop.lowerBounds, loop.upperBounds, loop.steps)) {
      Value span = arith::SubIOp::create(b, loc, upper, lower);
      Value trip = arith::CeilDivSIOp::create(b, loc, span, step);
      trip = arith::MaxSIOp::create(b, loc, trip, zero);
      trips.push_back(trip);
      total = arith::MulIOp::create(b, loc, total, trip);
    }
    Value threads = indexConstant(b, loc, threadsPerBlock(loop));
    Value blocks = arith::CeilDivSIOp::create(b, loc, total, threads);
    // A grid of zero blocks is invalid: launch one block that does nothing.
    blocks = arith::MaxSIOp::create(b, loc, blocks, one);
    auto launch =
        gpu::LaunchOp::create(b, loc, blocks, one, one, threads, one, one);

    Block &body = launch.getBody().front();
    OpBuilder inner = OpBuilder::atBlockEnd(&body);
    Value linear = arith::AddIOp::create(
        inner, loc,
        arith::MulIOp::create(inner, loc, launch.getBlockIds().x, threads),
        launch.getThreadIds().x);
    Value inRange = arith::CmpIOp::create(inner, loc, arith::CmpIPredicate::ult,
                                          linear, total);
    auto guard = scf::IfOp::create(inner, loc, inRange, /*withElse=*/false);
    gpu::TerminatorOp::create(inner, loc);

    OpBuilder then = guard.getThenBodyBuilder();
    IRMapping mapping;
    Value remaining = linear;
    for (int64_t d = static_cast<int64_t>(trips.size()) - 1; d >= 0; --d) {
      Value position = remaining;
      if (d > 0) {
        position = arith::RemUIOp::create(then, loc, remaining, trips[d]);
        remaining = arith::DivUIOp::create(then, loc, remaining, trips[d]);
      }
      Value iv = arith::AddIOp::create(
          then, loc, loop.lowerBounds[d],
          arith::MulIOp::create(then, loc, position, loop.steps[d]));
      mapping.map(loop.body->getArgument(d), iv);
    }
    for (Operation &op : loop.body->without_terminator())
      then.clone(op, mapping);
    loop.op->erase();
  }

  /// block-size, or for a static iteration count that would not give every
  /// multiprocessor a full block, ceil(count / multiprocessors) rounded up
  /// to a warp (each iteration is independent: no shared memory or block
  /// barrier depends on the block's size).
  int64_t threadsPerBlock(const ParallelLoop &loop) const {
    if (multiprocessors <= 0)
      return blockSize;
    int64_t count = 1;
    for (auto [lower, upper, step] :
         llvm::zip(loop.lowerBounds, loop.upperBounds, loop.steps)) {
      std::optional<int64_t> l = getConstantIntValue(lower),
                             u = getConstantIntValue(upper),
                             s = getConstantIntValue(step);
      if (!l || !u || !s || *s <= 0)
        return blockSize;
      count *= std::max<int64_t>(llvm::divideCeil(*u - *l, *s), 0);
    }
    int64_t perMultiprocessor = llvm::divideCeil(count, multiprocessors);
    return std::clamp<int64_t>(llvm::alignTo(perMultiprocessor, 32), 32,
                               std::max<int64_t>(blockSize, 32));
  }

  void sequentialize(scf::ParallelOp parallel) {
    OpBuilder b(parallel);
    scf::buildLoopNest(
        b, parallel.getLoc(), parallel.getLowerBound(),
        parallel.getUpperBound(), parallel.getStep(),
        [&](OpBuilder &nested, Location, ValueRange ivs) {
          IRMapping mapping;
          mapping.map(parallel.getInductionVars(), ivs);
          for (Operation &op : parallel.getBody()->without_terminator())
            nested.clone(op, mapping);
        });
    parallel.erase();
  }

  int64_t blockSize;
  int64_t multiprocessors;
};

struct MoEMapLoopsToGPUPass
    : mlir::moe::impl::MoEMapLoopsToGPUBase<MoEMapLoopsToGPUPass> {
  using MoEMapLoopsToGPUBase::MoEMapLoopsToGPUBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (blockSize < 1 || blockSize > 1024) {
      module.emitError() << "moe-map-loops-to-gpu: block-size must be in "
                            "[1, 1024], got "
                         << static_cast<int64_t>(blockSize);
      return signalPassFailure();
    }
    if (multiprocessors < 0) {
      module.emitError() << "moe-map-loops-to-gpu: multiprocessors must not "
                            "be negative, got "
                         << static_cast<int64_t>(multiprocessors);
      return signalPassFailure();
    }
    LoopMapper mapper(blockSize, multiprocessors);
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.isPublic())
        continue;
      // Host code that already launches outlined kernels or orders streams
      // is past this pass: wrapping it in kernels would nest launches, which
      // kernel outlining cannot take.
      WalkResult lowered = func.walk([&](Operation *op) {
        if (!isa<gpu::LaunchFuncOp, gpu::WaitOp>(op))
          return WalkResult::advance();
        op->emitError() << "'" << op->getName()
                        << "' in host code: moe-map-loops-to-gpu maps the "
                           "loops of functions that have no outlined kernels "
                           "or GPU streams yet";
        return WalkResult::interrupt();
      });
      if (lowered.wasInterrupted())
        return signalPassFailure();
      if (failed(mapper.mapFunction(func)) ||
          failed(mapper.finishKernels(func)) ||
          failed(mapper.placeHostBuffers(func)))
        return signalPassFailure();
    }
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(&getContext()));
  }
};
} // namespace
