//===- GroupedMatmulToGPU.cpp - convert-moe-to-gpu ------------------------===//
//
// moe.grouped_matmul on buffers -> one Hopper kernel: TMA into a ring of
// 128-byte-swizzled shared-memory stages, wgmma on two warpgroups, the
// epilogue (activation, narrowing unless the output is f32, ragged row mask,
// column mask of a partial last column tile) in registers. The pass
// description in include/moe/Conversion/Passes.td has the schedule; the
// comments here say why each step is as it is.
//
// Layout facts the kernel relies on (PTX ISA, "asynchronous warpgroup level
// matrix" sections):
// * A K-major tile of 64 16-bit elements per row is 128 bytes per row; TMA
//   with SWIZZLE_128B writes it so that 8 rows form a 1024-byte swizzle atom.
//   The wgmma descriptor of such a tile: start address >> 4 (bits 0-13),
//   leading byte offset (unused for swizzled K-major, 1), stride byte offset
//   1024 >> 4 (bits 32-45: from one 8-row group to the next), swizzle mode 1
//   (128B, bits 62-63). Stepping K by 16 elements adds 32 bytes to the start
//   address; the hardware applies the swizzle to the computed addresses, so
//   tiles must start on 1024-byte boundaries.
// * The m64nNk16 accumulator fragment: register i of thread t (warp w = t/32
//   within the warpgroup, lane l = t%32) holds row 16w + l/4 + 8·((i/2)%2),
//   column 8·(i/4) + 2·(l%4) + i%2.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/GroupedMatmulTiles.h"
#include "moe/Conversion/Passes.h"

#include "LoweringBuilder.h"
#include "moe/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOGPU
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

FailureOr<GroupedMatmulTiles>
mlir::moe::chooseGroupedMatmulTiles(Type element, int64_t rows, int64_t n,
                                    int64_t k, bool gated,
                                    GroupedMatmulColumns columns,
                                    std::string *why) {
  auto fail = [&](const Twine &reason) -> FailureOr<GroupedMatmulTiles> {
    if (why)
      *why = reason.str();
    return failure();
  };
  if (!element.isBF16() && !element.isF16())
    return fail("elements must be bf16 or f16");
  if (ShapedType::isDynamic(rows) || ShapedType::isDynamic(n) ||
      ShapedType::isDynamic(k))
    return fail("sizes must be static");
  if (k <= 0 || k % GroupedMatmulTiles::kPerStage != 0)
    return fail("the reduction size " + Twine(k) + " must be a multiple of " +
                Twine(GroupedMatmulTiles::kPerStage));
  // No columns would be an empty grid, which CUDA refuses to launch.
  if (n <= 0)
    return fail("the output size " + Twine(n) + " must be positive");
  GroupedMatmulTiles tiles;
  if (gated) {
    if (n % 128 != 0)
      return fail("the output size " + Twine(n) +
                  " must be a multiple of 128 with a gate");
    tiles.columnsPerTile = 128;
    tiles.wgmmaN = 256;
  } else if (n % 256 == 0) {
    tiles.columnsPerTile = tiles.wgmmaN = 256;
  } else if (n % 128 == 0) {
    tiles.columnsPerTile = tiles.wgmmaN = 128;
  } else if (columns == GroupedMatmulColumns::Masked) {
    // One tile as wide as N (wgmma takes any multiple of 8 up to 256): the A
    // tile is read once, and a narrow N (router logits, E = 8) does not pay
    // for 128 columns; wider N in 256-column tiles, the last one partial.
    tiles.columnsPerTile = tiles.wgmmaN =
        n <= 256 ? static_cast<int64_t>(llvm::alignTo(n, 8)) : 256;
  } else {
    return fail("the output size " + Twine(n) + " must be a multiple of 128");
  }
  // As many stages as fit in the 227 KiB a block may use, at most 4 (enough
  // to cover the latency of a K-slice load), at least 2.
  tiles.depth = 4;
  while (tiles.depth > 2 && tiles.sharedBytes() > 227 * 1024)
    --tiles.depth;
  return tiles;
}

FailureOr<GroupedMatmulTiles>
mlir::moe::chooseRouterLogitsTiles(Type element, int64_t tokens,
                                   int64_t experts, int64_t hidden,
                                   std::string *why) {
  return chooseGroupedMatmulTiles(element, tokens, experts, hidden,
                                  /*gated=*/false, GroupedMatmulColumns::Masked,
                                  why);
}

namespace {

/// Builds the kernel of one moe.grouped_matmul.
class GroupedMatmulLowering {
public:
  GroupedMatmulLowering(GroupedMatmulOp op, const GroupedMatmulTiles &tiles)
      : op(op), tiles(tiles), b(op.getLoc(), op) {
    auto rowsType = cast<MemRefType>(op.getRows().getType());
    auto weightType = cast<MemRefType>(op.getWeight().getType());
    element = rowsType.getElementType();
    numRows = rowsType.getDimSize(0);
    reduction = rowsType.getDimSize(1);
    numExperts = weightType.getDimSize(0);
    outColumns = weightType.getDimSize(1);
    outElement = cast<MemRefType>(op.getInit().getType()).getElementType();
  }

  void lower() {
    MLIRContext *context = b.getContext();
    workgroup = gpu::AddressSpaceAttr::get(context,
                                           gpu::AddressSpace::Workgroup);
    auto boxOf = [&](int64_t rows) {
      return MemRefType::get({rows, GroupedMatmulTiles::kPerStage}, element,
                             AffineMap(), workgroup);
    };
    // Out-of-bounds elements of a box read as zero: rows past R, and weight
    // rows past E·N (a partial column tile of the last expert).
    auto descriptorOf = [&](MemRefType box) {
      return nvgpu::TensorMapDescriptorType::get(
          context, box, nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
          nvgpu::TensorMapL2PromoKind::L2PROMO_256B,
          nvgpu::TensorMapOOBKind::OOB_ZERO,
          nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
    };
    rowsBoxType = boxOf(boxRows);
    weightBoxType = boxOf(tiles.weightBoxRows());

    // Host: tensor maps of the rows [R, K] and of the weights as [E·N, K].
    descA = makeDescriptor(op.getRows(), descriptorOf(rowsBoxType), boxRows);
    descW = makeDescriptor(flattenExperts(op.getWeight()),
                           descriptorOf(weightBoxType), tiles.weightBoxRows());
    if (op.getGate())
      descG = makeDescriptor(flattenExperts(op.getGate()),
                             descriptorOf(weightBoxType),
                             tiles.weightBoxRows());

    int64_t gridX = llvm::divideCeil(outColumns, tiles.columnsPerTile);
    int64_t gridY = llvm::divideCeil(numRows, GroupedMatmulTiles::rowsPerTile) +
                    numExperts;
    Value smemBytes = arith::ConstantIntOp::create(b, b.getI32Type(),
                                                   tiles.sharedBytes());
    auto launch = gpu::LaunchOp::create(
        b, b.getLoc(), index(gridX), index(gridY), index(1),
        index(GroupedMatmulTiles::threads), index(1), index(1), smemBytes);
    Block &body = launch.getBody().front();
    b.setInsertionPointToStart(&body);
    buildKernel(launch);
    b.setInsertionPointToEnd(&body);
    gpu::TerminatorOp::create(b);
    op.erase();
  }

private:
  static constexpr int64_t boxRows = 128; // Rows per TMA load of A.

  Value index(int64_t value) { return b.index(value); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value cmp(arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, predicate, x, y);
  }
  Value i64(int64_t value) {
    return arith::ConstantIntOp::create(b, b.getI64Type(), value);
  }

  Value flattenExperts(Value weight) {
    return memref::CollapseShapeOp::create(
        b, weight, SmallVector<ReassociationIndices>{{0, 1}, {2}});
  }

  Value makeDescriptor(Value matrix, nvgpu::TensorMapDescriptorType type,
                       int64_t rows) {
    auto matrixType = cast<MemRefType>(matrix.getType());
    Value unranked = memref::CastOp::create(
        b, UnrankedMemRefType::get(element, matrixType.getMemorySpace()),
        matrix);
    return nvgpu::TmaCreateDescriptorOp::create(
        b, type, unranked,
        ValueRange{index(rows), index(GroupedMatmulTiles::kPerStage)});
  }

  /// The wgmma descriptor of the 128-byte-swizzled K-major tile at shared
  /// address `address` (an i64).
  Value wgmmaDescriptor(Value address) {
    Value start = arith::ShRUIOp::create(
        b, arith::AndIOp::create(b, address, i64(0x3FFFF)), i64(4));
    int64_t fixed = (int64_t(1) << 16) | ((int64_t(1024) >> 4) << 32) |
                    (int64_t(1) << 62);
    return arith::OrIOp::create(b, start, i64(fixed));
  }

  void buildKernel(gpu::LaunchOp launch) {
    Value offsets = op.getOffsets();
    Value tid = launch.getThreadIds().x;
    Value tileColumn = launch.getBlockIds().x;
    Value tileIndex = launch.getBlockIds().y;
    Value zero = index(0), one = index(1);
    Value rowsPerTile = index(GroupedMatmulTiles::rowsPerTile);

    // Which expert's tile this block computes: walk the experts' tile counts
    // (uniform across the block: no divergence, the offsets sit in L1/L2).
    auto offsetAt = [&](Value e) -> Value {
      Value value = memref::LoadOp::create(b, offsets, ValueRange{e});
      return arith::IndexCastOp::create(b, b.getIndexType(), value);
    };
    Value numExpertsValue = index(numExperts);
    auto search = scf::ForOp::create(
        b, zero, numExpertsValue, one,
        ValueRange{zero, numExpertsValue, zero},
        [&](OpBuilder &nested, Location loc, Value e, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nested.getInsertionBlock(),
                              nested.getInsertionPoint());
          Value first = carried[0];
          Value begin = offsetAt(e), end = offsetAt(add(e, one));
          Value count = arith::SubIOp::create(b, end, begin);
          Value tilesOfExpert = arith::CeilDivUIOp::create(b, count, rowsPerTile);
          Value next = add(first, tilesOfExpert);
          Value hit = arith::AndIOp::create(
              b, cmp(arith::CmpIPredicate::ule, first, tileIndex),
              cmp(arith::CmpIPredicate::ult, tileIndex, next));
          Value expert = arith::SelectOp::create(b, hit, e, carried[1]);
          Value expertFirst = arith::SelectOp::create(b, hit, first, carried[2]);
          scf::YieldOp::create(b, ValueRange{next, expert, expertFirst});
        });
    Value expert = search.getResult(1), expertFirstTile = search.getResult(2);
    Value found = cmp(arith::CmpIPredicate::ult, expert, numExpertsValue);
    auto ifFound = scf::IfOp::create(b, found, /*withElseRegion=*/false);
    b.setInsertionPointToStart(&ifFound.getThenRegion().front());

    Value rowBegin = add(offsetAt(expert),
                         mul(arith::SubIOp::create(b, tileIndex, expertFirstTile),
                             rowsPerTile));
    Value rowEnd = offsetAt(add(expert, one));
    Value columnBegin = mul(tileColumn, index(tiles.columnsPerTile));
    // Row of the first weight row of this block's columns in [E·N, K].
    Value weightRow = add(mul(expert, index(outColumns)), columnBegin);

    // Shared memory: the stages from the first 1024-byte boundary.
    auto smemType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                    AffineMap(), workgroup);
    Value smem = gpu::DynamicSharedMemoryOp::create(b, smemType);
    Value smemAddress = arith::IndexCastOp::create(
        b, b.getI64Type(),
        memref::ExtractAlignedPointerAsIndexOp::create(b, smem));
    Value pad = arith::AndIOp::create(
        b, arith::SubIOp::create(b, i64(0), smemAddress), i64(1023));
    Value padIndex = arith::IndexCastOp::create(b, b.getIndexType(), pad);
    Value stagesAddress = add(smemAddress, pad);

    auto barrierType = nvgpu::MBarrierGroupType::get(
        b.getContext(), workgroup, unsigned(tiles.depth));
    Value barriers = nvgpu::MBarrierCreateOp::create(b, barrierType);
    Value leader = cmp(arith::CmpIPredicate::eq, tid, zero);
    for (int64_t s = 0; s < tiles.depth; ++s)
      nvgpu::MBarrierInitOp::create(b, barriers, one, index(s), leader);
    for (Value descriptor : {descA, descW, descG})
      if (descriptor)
        nvgpu::TmaPrefetchOp::create(b, descriptor, leader);
    gpu::BarrierOp::create(b);

    int64_t kSlices = reduction / GroupedMatmulTiles::kPerStage;
    auto tileView = [&](Value stage, int64_t byteOffset,
                        MemRefType box) -> Value {
      Value offset = add(add(padIndex, mul(stage, index(tiles.stageBytes()))),
                         index(byteOffset));
      return memref::ViewOp::create(b, box, smem, offset, ValueRange{});
    };
    // Thread 0 starts the loads of K-slice `slice` into `stage`.
    auto issueLoads = [&](Value slice, Value stage) {
      Value k = mul(slice, index(GroupedMatmulTiles::kPerStage));
      nvgpu::MBarrierArriveExpectTxOp::create(
          b, barriers, index(tiles.stageBytes()), stage, Value());
      // The full box counts towards the transaction bytes even where TMA
      // zero-fills it, so every stage expects stageBytes.
      auto load = [&](Value descriptor, Value row, int64_t byteOffset,
                      MemRefType box) {
        nvgpu::TmaAsyncLoadOp::create(b, tileView(stage, byteOffset, box),
                                      barriers, descriptor, ValueRange{k, row},
                                      stage, Value(), Value());
      };
      load(descA, rowBegin, 0, rowsBoxType);
      int64_t bOffset = tiles.aStageBytes();
      int64_t weightBoxRows = tiles.weightBoxRows();
      int64_t boxBytes = weightBoxRows * GroupedMatmulTiles::kPerStage * 2;
      if (descG) {
        // Gate rows first, then up rows: columns c and c + 128 of the
        // accumulator are gate and up of the same output column.
        load(descG, weightRow, bOffset, weightBoxType);
        load(descW, weightRow, bOffset + boxBytes, weightBoxType);
      } else {
        for (int64_t part = 0; part < tiles.wgmmaN / weightBoxRows; ++part)
          load(descW, add(weightRow, index(part * weightBoxRows)),
               bOffset + part * boxBytes, weightBoxType);
      }
    };
    {
      auto ifLeader = scf::IfOp::create(b, leader, false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifLeader.getThenRegion().front());
      for (int64_t s = 0; s < std::min(tiles.depth, kSlices); ++s)
        issueLoads(index(s), index(s));
    }

    // Accumulators: wgmmaN / 2 f32 per thread.
    int64_t accumulators = tiles.wgmmaN / 2;
    auto accType = LLVM::LLVMStructType::getLiteral(
        b.getContext(), SmallVector<Type>(accumulators, b.getF32Type()));
    Value initial = LLVM::ZeroOp::create(b, accType);
    Value warpgroup = arith::DivUIOp::create(b, tid, index(128));
    Value warpgroupRowBytes = arith::IndexCastOp::create(
        b, b.getI64Type(),
        mul(warpgroup, index(64 * GroupedMatmulTiles::kPerStage * 2)));
    auto wgmmaType = element.isBF16() ? NVVM::WGMMATypes::bf16
                                      : NVVM::WGMMATypes::f16;
    Value depth = index(tiles.depth);

    auto mainLoop = scf::ForOp::create(
        b, zero, index(kSlices), one, ValueRange{initial},
        [&](OpBuilder &nested, Location loc, Value slice, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nested.getInsertionBlock(),
                              nested.getInsertionPoint());
          Value stage = arith::RemUIOp::create(b, slice, depth);
          Value round = arith::DivUIOp::create(b, slice, depth);
          Value parity = arith::IndexCastOp::create(
              b, b.getI1Type(), arith::RemUIOp::create(b, round, index(2)));
          nvgpu::MBarrierTryWaitParityOp::create(b, barriers, parity,
                                                 index(10000000), stage);
          Value stageAddress = add(
              stagesAddress,
              arith::IndexCastOp::create(
                  b, b.getI64Type(), mul(stage, index(tiles.stageBytes()))));
          Value aAddress = add(stageAddress, warpgroupRowBytes);
          Value bAddress = add(stageAddress, i64(tiles.aStageBytes()));
          NVVM::WgmmaFenceAlignedOp::create(b);
          Value acc = carried[0];
          for (int64_t step = 0; step < GroupedMatmulTiles::kPerStage / 16;
               ++step) {
            Value descA = wgmmaDescriptor(add(aAddress, i64(32 * step)));
            Value descB = wgmmaDescriptor(add(bAddress, i64(32 * step)));
            acc = NVVM::WgmmaMmaAsyncOp::create(
                b, accType, acc, descA, descB,
                NVVM::MMAShapeAttr::get(b.getContext(), 64, int(tiles.wgmmaN),
                                        16),
                wgmmaType, wgmmaType, NVVM::WGMMATypes::f32,
                NVVM::WGMMAScaleOut::one, NVVM::WGMMAScaleIn::one,
                NVVM::WGMMAScaleIn::one, NVVM::MMALayout::row,
                NVVM::MMALayout::col, NVVM::MMAIntOverflowAttr());
          }
          NVVM::WgmmaGroupSyncAlignedOp::create(b);
          NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
          // Every warpgroup is done with this stage: refill it.
          gpu::BarrierOp::create(b);
          Value nextSlice = add(slice, depth);
          Value refill = arith::AndIOp::create(
              b, leader,
              cmp(arith::CmpIPredicate::ult, nextSlice, index(kSlices)));
          auto ifRefill = scf::IfOp::create(b, refill, false);
          {
            OpBuilder::InsertionGuard inner(b);
            b.setInsertionPointToStart(&ifRefill.getThenRegion().front());
            issueLoads(nextSlice, stage);
          }
          scf::YieldOp::create(b, ValueRange{acc});
        });
    buildEpilogue(mainLoop.getResult(0), tid, warpgroup, rowBegin, rowEnd,
                  columnBegin);
  }

  /// Registers -> output: activation (gated), narrowing (none for an f32
  /// output), rows of the tile past the expert's end and columns past N
  /// skipped.
  void buildEpilogue(Value acc, Value tid, Value warpgroup, Value rowBegin,
                     Value rowEnd, Value columnBegin) {
    Value lane = arith::RemUIOp::create(b, tid, index(32));
    Value warp = arith::RemUIOp::create(b, arith::DivUIOp::create(b, tid, index(32)),
                                        index(4));
    Value rowTop = add(rowBegin,
                       add(mul(warpgroup, index(64)),
                           add(mul(warp, index(16)),
                               arith::DivUIOp::create(b, lane, index(4)))));
    Value rowBottom = add(rowTop, index(8));
    Value laneColumn =
        add(columnBegin, mul(arith::RemUIOp::create(b, lane, index(4)), index(2)));
    Value out = op.getInit();
    bool gated = op.getGate() != nullptr;
    Activation activation =
        gated ? *op.getActivation() : Activation::silu; // unused when plain
    auto valueAt = [&](int64_t i) -> Value {
      Value raw = LLVM::ExtractValueOp::create(b, acc, ArrayRef<int64_t>{i});
      if (!gated)
        return raw;
      // Up is 128 columns (16 column groups of 8, 4 registers each) later.
      Value up = LLVM::ExtractValueOp::create(b, acc,
                                              ArrayRef<int64_t>{i + 64});
      Value activated = b.activation(raw, activation);
      return arith::MulFOp::create(b, activated, up);
    };
    int64_t groups = tiles.columnsPerTile / 8;
    // Only a partial last column tile pays for the column test; full tiles
    // (every expert GEMM) store unconditionally.
    bool maskColumns = tiles.masksColumns(outColumns);
    Value columnEnd = index(outColumns);
    for (auto [row, half] : {std::pair<Value, int64_t>{rowTop, 0},
                             std::pair<Value, int64_t>{rowBottom, 2}}) {
      Value inside = cmp(arith::CmpIPredicate::ult, row, rowEnd);
      auto ifInside = scf::IfOp::create(b, inside, false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifInside.getThenRegion().front());
      for (int64_t group = 0; group < groups; ++group) {
        for (int64_t pair = 0; pair < 2; ++pair) {
          Value value = valueAt(4 * group + half + pair);
          if (value.getType() != outElement)
            value = arith::TruncFOp::create(b, outElement, value);
          Value column = add(laneColumn, index(8 * group + pair));
          if (!maskColumns) {
            memref::StoreOp::create(b, value, out, ValueRange{row, column});
            continue;
          }
          auto ifColumn = scf::IfOp::create(
              b, cmp(arith::CmpIPredicate::ult, column, columnEnd), false);
          OpBuilder::InsertionGuard columnGuard(b);
          b.setInsertionPointToStart(&ifColumn.getThenRegion().front());
          memref::StoreOp::create(b, value, out, ValueRange{row, column});
        }
      }
    }
  }

  GroupedMatmulOp op;
  GroupedMatmulTiles tiles;
  LoweringBuilder b;
  Type element, outElement;
  int64_t numRows = 0, reduction = 0, numExperts = 0, outColumns = 0;
  Attribute workgroup;
  MemRefType rowsBoxType, weightBoxType;
  Value descA, descW, descG;
};

LogicalResult checkOperands(GroupedMatmulOp op) {
  for (Value operand : op->getOperands()) {
    auto type = dyn_cast<MemRefType>(operand.getType());
    if (!type)
      return op.emitOpError()
             << "must be on buffers for convert-moe-to-gpu (bufferize first)";
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      return op.emitOpError()
             << "needs contiguous operands of static shape for the tensor-core "
                "kernel, got "
             << type;
  }
  return success();
}

struct ConvertMoEToGPUPass
    : mlir::moe::impl::ConvertMoEToGPUBase<ConvertMoEToGPUPass> {
  void runOnOperation() override {
    SmallVector<GroupedMatmulOp> ops;
    getOperation().walk([&](GroupedMatmulOp op) { ops.push_back(op); });
    for (GroupedMatmulOp op : ops) {
      if (failed(checkOperands(op)))
        return signalPassFailure();
      auto rowsType = cast<MemRefType>(op.getRows().getType());
      auto weightType = cast<MemRefType>(op.getWeight().getType());
      std::string why;
      FailureOr<GroupedMatmulTiles> tiles = chooseGroupedMatmulTiles(
          rowsType.getElementType(), rowsType.getDimSize(0),
          weightType.getDimSize(1), rowsType.getDimSize(1),
          op.getGate() != nullptr, GroupedMatmulColumns::Masked, &why);
      if (failed(tiles)) {
        op.emitOpError() << "does not fit the tensor-core kernel: " << why;
        return signalPassFailure();
      }
      GroupedMatmulLowering(op, *tiles).lower();
    }
  }
};
} // namespace
