//===- GroupedMatmulToGPU.cpp - convert-moe-to-gpu ------------------------===//
//
// moe.grouped_matmul on buffers -> one persistent, warp-specialised Hopper
// kernel: a producer warpgroup takes tiles from a global counter and streams
// them by TMA into a ring of 128-byte-swizzled shared-memory stages, two
// consumer warpgroups run wgmma on them and the epilogue (activation,
// narrowing unless the output is f32, ragged row mask, column mask of a
// partial last column tile) in registers. The pass
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
#include "WarpRouter.h"
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

FailureOr<GroupedMatmulTiles> mlir::moe::chooseGroupedMatmulTiles(
    Type element, int64_t rows, int64_t n, int64_t k, bool gated,
    GroupedMatmulColumns columns, std::string *why) {
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

FusedRouterSplit mlir::moe::chooseFusedRouterSplit(int64_t tokens,
                                                   int64_t hidden,
                                                   int64_t multiprocessors) {
  constexpr int64_t maxSplits = 8, minSlicesPerSplit = 4;
  int64_t slices = std::max<int64_t>(hidden / GroupedMatmulTiles::kPerStage, 1);
  int64_t rowTiles = std::max<int64_t>(
      llvm::divideCeil(tokens, GroupedMatmulTiles::rowsPerTile), 1);
  int64_t splits = std::clamp<int64_t>(
      multiprocessors / rowTiles, 1,
      std::min(maxSplits,
               std::max<int64_t>(slices / minSlicesPerSplit, 1)));
  FusedRouterSplit split;
  split.slicesPerSplit = llvm::divideCeil(slices, splits);
  split.splits = llvm::divideCeil(slices, split.slicesPerSplit);
  return split;
}

FailureOr<GroupedMatmulTiles>
mlir::moe::chooseFusedRouterTiles(Type element, int64_t tokens,
                                  int64_t experts, int64_t hidden,
                                  RoutingAttr routing, std::string *why) {
  FailureOr<GroupedMatmulTiles> tiles =
      chooseRouterLogitsTiles(element, tokens, experts, hidden, why);
  if (failed(tiles))
    return failure();
  std::string reason = experts > 256
                           ? "more than 256 experts (one column tile)"
                           : warpRoutingUnsupportedReason(experts, routing);
  if (reason.empty())
    return tiles;
  if (why)
    *why = reason;
  return failure();
}

namespace {

/// The fused router's part of the kernel: the router GEMM's K-slices split
/// into `splits` ranges (the split takes the column tile's place in the
/// schedule), each written as f32 partial logits into `partials`
/// [splits, T, E]; once every tile is taken, consumer warps route the tokens
/// (WarpRouter.h) from the sums of the partials.
struct RouterFusion {
  RoutingAttr routing;
  Value bias, weights, indices; // Buffers: [E] or null, [T, K], [T, K].
  FusedRouterSplit split;
  Value partials, arrivals;     // Allocated by the lowering.
};

/// Builds the kernel of one moe.grouped_matmul or moe.fused_router.
class GroupedMatmulLowering {
public:
  GroupedMatmulLowering(GroupedMatmulOp op, const GroupedMatmulTiles &tiles)
      : anchor(op), tiles(tiles), b(op.getLoc(), op) {
    rows = op.getRows();
    sources = op.getSources();
    offsets = op.getOffsets();
    weight = op.getWeight();
    gate = op.getGate();
    init = op.getInit();
    slots = op.getSlots().value_or(0);
    activation = op.getActivation().value_or(Activation::silu);
    auto rowsType = cast<MemRefType>(rows.getType());
    auto weightType = cast<MemRefType>(weight.getType());
    element = rowsType.getElementType();
    // Gathered: `rows` are the tokens; the GEMM has as many rows as `init`.
    numRows = cast<MemRefType>(init.getType()).getDimSize(0);
    reduction = rowsType.getDimSize(1);
    gathered = sources != nullptr;
    numExperts = weightType.getDimSize(0);
    outColumns = weightType.getDimSize(1);
    outElement = cast<MemRefType>(init.getType()).getElementType();
  }

  /// The router GEMM of `op` as one group of all T rows (offsets [0, T])
  /// against the [E, H] router weight, split along H.
  GroupedMatmulLowering(FusedRouterOp op, const GroupedMatmulTiles &tiles,
                        FusedRouterSplit split)
      : anchor(op), tiles(tiles), b(op.getLoc(), op) {
    rows = op.getTokens();
    weight = op.getWeight();
    auto rowsType = cast<MemRefType>(rows.getType());
    element = rowsType.getElementType();
    numRows = rowsType.getDimSize(0);
    reduction = rowsType.getDimSize(1);
    numExperts = 1;
    outColumns = cast<MemRefType>(weight.getType()).getDimSize(0);
    outElement = b.getF32Type();
    router = RouterFusion{op.getRouting(), op.getBias(), op.getWeightsInit(),
                          op.getIndicesInit(), split, Value(), Value()};
  }

  void lower() {
    MLIRContext *context = b.getContext();
    workgroup =
        gpu::AddressSpaceAttr::get(context, gpu::AddressSpace::Workgroup);
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

    // Host: tensor maps of the rows [R, K] (unless they are gathered from
    // the tokens row by row) and of the weights as [E·N, K].
    if (!gathered) {
      descA = makeDescriptor(rows, descriptorOf(rowsBoxType), boxRows);
      // Tiles with few rows (decode: a few tokens an expert) load only the
      // top of A: wgmma still reads 64 rows of it, but the rows past the
      // tile's end only feed output rows that are never stored.
      for (int64_t shortRows : shortBoxRows) {
        MemRefType box = boxOf(shortRows);
        shortA.push_back(
            {shortRows, box,
             makeDescriptor(rows, descriptorOf(box), shortRows)});
      }
    }
    descW = makeDescriptor(router ? weight : flattenExperts(weight),
                           descriptorOf(weightBoxType), tiles.weightBoxRows());
    if (gate)
      descG = makeDescriptor(flattenExperts(gate), descriptorOf(weightBoxType),
                             tiles.weightBoxRows());

    // A persistent grid: at most one block per multiprocessor (the stages
    // take most of its shared memory), never more blocks than tiles can
    // exist (every expert's rows rounded up to 128, plus one partial tile
    // per expert).
    columnTiles = router ? router->split.splits
                         : llvm::divideCeil(outColumns, tiles.columnsPerTile);
    int64_t maxTiles = columnTiles * (rowTileCount() + numExperts);
    numBlocks = std::min(multiprocessors, maxTiles);
    // Rows per expert under uniform routing, in tiles: a raster group is one
    // expert's row tiles (at least 1, at most rowTilesPerGroupMax).
    rowTilesPerGroup = std::clamp<int64_t>(
        numRows /
            std::max<int64_t>(numExperts * GroupedMatmulTiles::rowsPerTile, 1),
        1, rowTilesPerGroupMax);
    // The tile counter of the dynamic schedule: allocated at the function's
    // entry (host control flow cannot allocate on this path; the function
    // frees it at its return), zeroed on the stream before each launch.
    // The fused router's partial logits and, per row tile, the count of
    // consumer warpgroups that stored theirs (zeroed like the counter).
    {
      OpBuilder::InsertionGuard guard(b);
      auto func = anchor->getParentOfType<func::FuncOp>();
      b.setInsertionPointToStart(&func.getBody().front());
      tileCounter =
          memref::AllocOp::create(b, MemRefType::get({1}, b.getI32Type()));
      if (router) {
        router->partials = memref::AllocOp::create(
            b, MemRefType::get({router->split.splits, numRows, outColumns},
                               b.getF32Type()));
        router->arrivals = memref::AllocOp::create(
            b, MemRefType::get({std::max<int64_t>(rowTileCount(), 1)},
                               b.getI32Type()));
      }
    }
    Value zeroI32 = arith::ConstantIntOp::create(b, b.getI32Type(), 0);
    gpu::MemsetOp::create(b, /*asyncToken=*/Type(), ValueRange{}, tileCounter,
                          zeroI32);
    if (router)
      gpu::MemsetOp::create(b, /*asyncToken=*/Type(), ValueRange{},
                            router->arrivals, zeroI32);
    Value smemBytes = arith::ConstantIntOp::create(
        b, b.getI32Type(), tiles.sharedBytes() + scheduleBytes());
    auto launch = gpu::LaunchOp::create(
        b, b.getLoc(), index(numBlocks), index(1), index(1),
        index(GroupedMatmulTiles::threads), index(1), index(1), smemBytes);
    Block &body = launch.getBody().front();
    b.setInsertionPointToStart(&body);
    buildKernel(launch);
    b.setInsertionPointToEnd(&body);
    gpu::TerminatorOp::create(b);
    anchor->erase();
  }

  GroupedMatmulLowering &withMultiprocessors(int64_t count) {
    multiprocessors = count;
    return *this;
  }

private:
  static constexpr int64_t boxRows = 128; // Rows per TMA load of A.
  // Smaller boxes of A for tiles with at most this many rows, smallest
  // first.
  static constexpr int64_t shortBoxRows[] = {16, 64};
  struct ShortBox {
    int64_t rows;
    MemRefType type;
    Value descriptor;
  };
  // Row tiles that neighbouring tiles of the schedule share: a group of
  // (at most) this many row tiles walks all column tiles before the next
  // group starts, so the blocks running at one time read a few column tiles
  // of weights and a few row tiles of A, which L2 keeps, instead of one row
  // tile against every weight column (Mixtral's gate/up weights, 235 MB an
  // expert, would come from HBM once per row tile).
  static constexpr int64_t rowTilesPerGroupMax = 8;
  static constexpr int64_t warpgroupThreads = 128;
  // Warpgroups 1 and 2; each of their warps arrives once on a stage's
  // `empty` barrier, each of their threads once on a ring slot's
  // `tileEmpty` barrier.
  static constexpr int64_t consumers = 2;
  static constexpr int64_t consumerThreads = consumers * warpgroupThreads;
  static constexpr int64_t consumerWarps = consumerThreads / 32;
  // Suspend-time hint of the mbarrier waits (ns; the wait loops until the
  // phase completes).
  static constexpr int64_t waitHint = 10000000;
  // setmaxnreg budgets: 128 x 40 + 256 x 232 = 64512 of the 65536 registers.
  static constexpr int32_t producerRegisters = 40;
  static constexpr int32_t consumerRegisters = 232;
  // Gathered A: 16-byte copies, eight to a 128-byte row of a K-slice.
  static constexpr int64_t chunksPerRow = 8;

  int64_t kSlices() const { return reduction / GroupedMatmulTiles::kPerStage; }
  /// ceil(R / 128): the row tiles of all R rows taken as one group (the
  /// fused router's whole schedule; a grouped GEMM adds a partial tile per
  /// expert).
  int64_t rowTileCount() const {
    return llvm::divideCeil(numRows, GroupedMatmulTiles::rowsPerTile);
  }

  /// Shared memory after the stages: the ring of tile indices the producer
  /// hands to the consumers (depth i32), then the per-expert tile prefix
  /// (E + 1 i32).
  int64_t ringBytes() const { return tiles.depth * 4; }
  int64_t scheduleBytes() const { return ringBytes() + (numExperts + 1) * 4; }

  Value index(int64_t value) { return b.index(value); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value divu(Value x, Value y) { return arith::DivUIOp::create(b, x, y); }
  Value remu(Value x, Value y) { return arith::RemUIOp::create(b, x, y); }
  Value cmp(arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, predicate, x, y);
  }
  Value i64(int64_t value) {
    return arith::ConstantIntOp::create(b, b.getI64Type(), value);
  }
  Value toI64(Value x) {
    return arith::IndexCastOp::create(b, b.getI64Type(), x);
  }

  /// scf.for [lower, upper) by `step` with `body` built by `b` inside it.
  SmallVector<Value>
  forLoop(Value lower, Value upper, Value step, ValueRange iterArgs,
          function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto loop = scf::ForOp::create(
        b, lower, upper, step, iterArgs,
        [&](OpBuilder &nested, Location, Value iv, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nested.getInsertionBlock(),
                              nested.getInsertionPoint());
          scf::YieldOp::create(b, body(iv, carried));
        });
    return SmallVector<Value>(loop.getResults());
  }

  /// scf.if `condition` with `body` built by `b` in its then-region.
  void ifThen(Value condition, function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, condition, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    body();
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
    int64_t fixed =
        (int64_t(1) << 16) | ((int64_t(1024) >> 4) << 32) | (int64_t(1) << 62);
    return arith::OrIOp::create(b, start, i64(fixed));
  }

  /// offsets[e]; the fused router's one group is [0, T].
  Value offsetAt(Value e) {
    if (router)
      return arith::SelectOp::create(b, cmp(arith::CmpIPredicate::eq, e, index(0)),
                                     index(0), index(numRows));
    Value value = memref::LoadOp::create(b, offsets, ValueRange{e});
    return arith::IndexCastOp::create(b, b.getIndexType(), value);
  }

  /// prefix[e] = row tiles of experts 0..e-1 (so prefix[E] is every tile
  /// row), one entry per thread, in shared memory: the tile schedule looks
  /// up a tile's expert by binary search instead of walking the offsets.
  void buildTilePrefix(Value tid) {
    Value one = index(1);
    Value rowsPerTile = index(GroupedMatmulTiles::rowsPerTile);
    forLoop(tid, index(numExperts + 1), index(GroupedMatmulTiles::threads), {},
            [&](Value e, ValueRange) -> SmallVector<Value> {
              Value sum = forLoop(
                  index(0), e, one, {index(0)},
                  [&](Value j, ValueRange carried) -> SmallVector<Value> {
                    Value count = sub(offsetAt(add(j, one)), offsetAt(j));
                    return {add(carried[0], arith::CeilDivUIOp::create(
                                                b, count, rowsPerTile))};
                  })[0];
              memref::StoreOp::create(
                  b, arith::IndexCastOp::create(b, b.getI32Type(), sum), prefix,
                  ValueRange{e});
              return {};
            });
  }

  Value prefixAt(Value e) {
    return arith::IndexCastOp::create(
        b, b.getIndexType(), memref::LoadOp::create(b, prefix, ValueRange{e}));
  }

  /// Where tile `t` of the schedule is: expert, its rows [rowBegin, rowEnd)
  /// (rowEnd is the expert's end; the tile's 128 rows may pass it), and the
  /// first output column.
  /// K-slices [sliceBegin, sliceEnd): all of K, or the fused router's
  /// split `split` (the column tile coordinate, as every column is in one
  /// tile).
  struct TileCoords {
    Value expert, rowBegin, rowEnd, columnBegin;
    Value split, sliceBegin, sliceEnd;
  };
  TileCoords tileAt(Value t, Value rowTiles) {
    Value one = index(1);
    Value groupTiles = index(rowTilesPerGroup * columnTiles);
    Value group = divu(t, groupTiles);
    Value firstRow = mul(group, index(rowTilesPerGroup));
    Value rowsInGroup = arith::MinUIOp::create(b, sub(rowTiles, firstRow),
                                               index(rowTilesPerGroup));
    Value local = remu(t, groupTiles);
    Value rowTile = add(firstRow, remu(local, rowsInGroup));
    Value columnTile = divu(local, rowsInGroup);
    // The last expert e with prefix[e] <= rowTile (experts without rows
    // have prefix[e] == prefix[e + 1] and are passed over).
    SmallVector<Value> bounds =
        forLoop(index(0), index(llvm::Log2_64_Ceil(numExperts)), one,
                {index(0), index(numExperts)},
                [&](Value, ValueRange range) -> SmallVector<Value> {
                  Value mid = divu(add(range[0], range[1]), index(2));
                  Value below =
                      cmp(arith::CmpIPredicate::ule, prefixAt(mid), rowTile);
                  return {arith::SelectOp::create(b, below, mid, range[0]),
                          arith::SelectOp::create(b, below, range[1], mid)};
                });
    TileCoords coords;
    coords.expert = bounds[0];
    coords.rowBegin = add(offsetAt(coords.expert),
                          mul(sub(rowTile, prefixAt(coords.expert)),
                              index(GroupedMatmulTiles::rowsPerTile)));
    coords.rowEnd = offsetAt(add(coords.expert, one));
    if (router) {
      int64_t perSplit = router->split.slicesPerSplit;
      coords.columnBegin = index(0);
      coords.split = columnTile;
      coords.sliceBegin = mul(columnTile, index(perSplit));
      coords.sliceEnd = arith::MinUIOp::create(
          b, add(coords.sliceBegin, index(perSplit)), index(kSlices()));
      return coords;
    }
    coords.columnBegin = mul(columnTile, index(tiles.columnsPerTile));
    coords.sliceBegin = index(0);
    coords.sliceEnd = index(kSlices());
    return coords;
  }

  void buildKernel(gpu::LaunchOp launch) {
    Value tid = launch.getThreadIds().x;
    Value zero = index(0), one = index(1);

    // Shared memory: the stages from the first 1024-byte boundary, then the
    // tile prefix.
    auto smemType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                    AffineMap(), workgroup);
    smem = gpu::DynamicSharedMemoryOp::create(b, smemType);
    Value smemAddress =
        toI64(memref::ExtractAlignedPointerAsIndexOp::create(b, smem));
    Value pad = arith::AndIOp::create(b, sub(i64(0), smemAddress), i64(1023));
    padIndex = arith::IndexCastOp::create(b, b.getIndexType(), pad);
    stagesAddress = add(smemAddress, pad);
    Value stagesEnd = add(padIndex, index(tiles.depth * tiles.stageBytes()));
    tileRing = memref::ViewOp::create(
        b,
        MemRefType::get({tiles.depth}, b.getI32Type(), AffineMap(), workgroup),
        smem, stagesEnd, ValueRange{});
    prefix = memref::ViewOp::create(
        b,
        MemRefType::get({numExperts + 1}, b.getI32Type(), AffineMap(),
                        workgroup),
        smem, add(stagesEnd, index(ringBytes())), ValueRange{});
    buildTilePrefix(tid);

    // full[s]: the stage's loads landed (the producer's expect_tx plus the
    // TMA bytes). empty[s]: every consumer warp is done reading it.
    auto barrierType = nvgpu::MBarrierGroupType::get(b.getContext(), workgroup,
                                                     unsigned(tiles.depth));
    // tileFull[j] / tileEmpty[j]: the ring's slot j was written by the
    // producer / read by all 256 consumer threads.
    full = nvgpu::MBarrierCreateOp::create(b, barrierType);
    empty = nvgpu::MBarrierCreateOp::create(b, barrierType);
    tileFull = nvgpu::MBarrierCreateOp::create(b, barrierType);
    tileEmpty = nvgpu::MBarrierCreateOp::create(b, barrierType);
    Value leader = cmp(arith::CmpIPredicate::eq, tid, zero);
    // Gathered rows: every producer thread also arrives on `full` once its
    // row copies landed, and the producers other than the leader read the
    // tile ring too.
    int64_t fullArrivals = gathered ? 1 + warpgroupThreads : 1;
    int64_t ringReaders =
        consumerThreads + (gathered ? warpgroupThreads - 1 : 0);
    for (int64_t s = 0; s < tiles.depth; ++s) {
      nvgpu::MBarrierInitOp::create(b, full, index(fullArrivals), index(s),
                                    leader);
      nvgpu::MBarrierInitOp::create(b, empty, index(consumerWarps),
                                    index(s), leader);
      nvgpu::MBarrierInitOp::create(b, tileFull, one, index(s), leader);
      nvgpu::MBarrierInitOp::create(b, tileEmpty, index(ringReaders),
                                    index(s), leader);
    }
    for (Value descriptor : {descA, descW, descG})
      if (descriptor)
        nvgpu::TmaPrefetchOp::create(b, descriptor, leader);
    for (const ShortBox &box : shortA)
      nvgpu::TmaPrefetchOp::create(b, box.descriptor, leader);
    gpu::BarrierOp::create(b);

    Value rowTiles = prefixAt(index(numExperts));
    Value numTiles = mul(rowTiles, index(columnTiles));
    Value warpgroup = divu(tid, index(warpgroupThreads));
    auto roles =
        scf::IfOp::create(b, cmp(arith::CmpIPredicate::eq, warpgroup, zero),
                          /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&roles.getThenRegion().front());
      NVVM::SetMaxRegisterOp::create(b, producerRegisters,
                                     NVVM::SetMaxRegisterAction::decrease);
      if (gathered)
        buildGatherProducer(tid, leader, numTiles, rowTiles);
      else
        ifThen(leader, [&] { buildProducer(numTiles, rowTiles); });
      b.setInsertionPointToStart(&roles.getElseRegion().front());
      NVVM::SetMaxRegisterOp::create(b, consumerRegisters,
                                     NVVM::SetMaxRegisterAction::increase);
      buildConsumer(tid, sub(warpgroup, one), numTiles, rowTiles);
    }
  }

  /// Stage and round (whose parity the stage's mbarriers wait on) of the
  /// `counter`-th K-slice the block streams, counted over all its tiles; the
  /// same for the slot of the tile ring (as deep as the stages).
  std::pair<Value, Value> stageOf(Value counter) {
    Value depth = index(tiles.depth);
    Value stage = remu(counter, depth);
    Value round = divu(counter, depth);
    return {stage, round};
  }
  Value parityOf(Value round) {
    return arith::IndexCastOp::create(b, b.getI1Type(), remu(round, index(2)));
  }
  /// Waits until barrier `slot` of `barriers` completed its phase of `round`
  /// (its `round`-th use was filled: full, tileFull).
  void waitFilled(Value barriers, Value slot, Value round) {
    nvgpu::MBarrierTryWaitParityOp::create(b, barriers, parityOf(round),
                                           index(waitHint), slot);
  }
  /// Waits until the use before the `round`-th of `slot` was released
  /// (empty, tileEmpty); the first use waits on the parity before the
  /// barrier's first phase, which passes at once.
  void waitReleased(Value barriers, Value slot, Value round) {
    nvgpu::MBarrierTryWaitParityOp::create(
        b, barriers, parityOf(add(round, index(1))), index(waitHint), slot);
  }
  void arrive(Value barriers, Value slot) {
    nvgpu::MBarrierArriveOp::create(
        b, nvgpu::MBarrierTokenType::get(b.getContext()), barriers, slot);
  }

  /// A loop over the tiles a block takes: `next(j)` (built in the while's
  /// before-region) yields the block's j-th tile index t, and the loop runs
  /// `body(t, counter)` -> counter while t is a tile (t < numTiles).
  /// `counter` counts the K-slices streamed so far; returns its final value.
  Value tileLoop(Value numTiles, function_ref<Value(Value j)> next,
                 function_ref<Value(Value t, Value counter)> body) {
    Type indexType = b.getIndexType();
    // Carried: (counter, j); the after-region also gets t.
    auto loop = scf::WhileOp::create(
        b, TypeRange{indexType, indexType, indexType},
        ValueRange{index(0), index(0)},
        [&](OpBuilder &nested, Location, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nested.getInsertionBlock(),
                              nested.getInsertionPoint());
          Value t = next(carried[1]);
          scf::ConditionOp::create(b,
                                   cmp(arith::CmpIPredicate::ult, t, numTiles),
                                   ValueRange{carried[0], carried[1], t});
        },
        [&](OpBuilder &nested, Location, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nested.getInsertionBlock(),
                              nested.getInsertionPoint());
          Value counter = body(carried[2], carried[0]);
          scf::YieldOp::create(b,
                               ValueRange{counter, add(carried[1], index(1))});
        });
    return loop.getResult(0);
  }

  /// The producer leader's `j`-th tile (i32): the next one of the global
  /// counter, handed on through ring slot j % depth once every reader of
  /// that slot's previous tile has read it.
  Value takeTile(Value j) {
    Value taken = memref::AtomicRMWOp::create(
        b, arith::AtomicRMWKind::addi,
        arith::ConstantIntOp::create(b, b.getI32Type(), 1), tileCounter,
        ValueRange{index(0)});
    auto [slot, round] = stageOf(j);
    waitReleased(tileEmpty, slot, round);
    memref::StoreOp::create(b, taken, tileRing, ValueRange{slot});
    arrive(tileFull, slot);
    return taken;
  }
  /// A ring reader's `j`-th tile (i32): consumers, and gathering producers
  /// other than the leader.
  Value readTile(Value j) {
    auto [slot, round] = stageOf(j);
    waitFilled(tileFull, slot, round);
    Value taken = memref::LoadOp::create(b, tileRing, ValueRange{slot});
    arrive(tileEmpty, slot);
    return taken;
  }
  /// The first weight row of the tile's columns in the weights as [E·N, K].
  Value weightRowOf(const TileCoords &tile) {
    return add(mul(tile.expert, index(outColumns)), tile.columnBegin);
  }

  /// One thread of warpgroup 0: takes the next tile from the global counter
  /// (blocks take tiles in order as they free up, so the tiles in flight
  /// stay a contiguous window of the raster, whose weights and rows L2
  /// holds), hands it to the consumers through the ring (the index past the
  /// last tile tells them to stop), then streams its K-slices into the
  /// stages once both consumers have released them.
  void buildProducer(Value numTiles, Value rowTiles) {
    tileLoop(
        numTiles,
        [&](Value j) -> Value {
          return arith::IndexCastOp::create(b, b.getIndexType(), takeTile(j));
        },
        [&](Value t, Value counter) -> Value {
          TileCoords tile = tileAt(t, rowTiles);
          Value weightRow = weightRowOf(tile);
          return streamSlices(tile, counter, [&](Value slice, Value stage,
                                                 Value) {
            issueLoads(slice, stage, tile.rowBegin,
                       sub(tile.rowEnd, tile.rowBegin), weightRow);
          });
        });
  }

  /// The producer's K-slices of one tile: for each, once both consumers
  /// released its stage, `body(slice, stage, count)` (count: the slices the
  /// block streamed before). Returns the count after the tile.
  Value streamSlices(const TileCoords &tile, Value counter,
                     function_ref<void(Value slice, Value stage, Value count)>
                         body) {
    return forLoop(tile.sliceBegin, tile.sliceEnd, index(1), {counter},
                   [&](Value slice, ValueRange carried) -> SmallVector<Value> {
                     auto [stage, round] = stageOf(carried[0]);
                     waitReleased(empty, stage, round);
                     body(slice, stage, carried[0]);
                     return {add(carried[0], index(1))};
                   })[0];
  }

  /// All of warpgroup 0 when the rows are gathered from the tokens: the
  /// leader takes tiles as in buildProducer and the others read them from
  /// the ring; per K-slice the leader starts the weights' TMA loads and
  /// every thread copies its share of the tile's 128 rows of A (one 16-byte
  /// chunk of 8 rows; TMA cannot gather rows), and arrives on the `full`
  /// barrier of the slice `gatherLag()` before, whose copies have landed.
  void buildGatherProducer(Value tid, Value leader, Value numTiles,
                           Value rowTiles) {
    Type i32 = b.getI32Type();
    Value streamed = tileLoop(
        numTiles,
        [&](Value j) -> Value {
          auto take = scf::IfOp::create(b, TypeRange{i32}, leader,
                                        /*withElseRegion=*/true);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(&take.getThenRegion().front());
          scf::YieldOp::create(b, takeTile(j));
          b.setInsertionPointToStart(&take.getElseRegion().front());
          scf::YieldOp::create(b, readTile(j));
          b.setInsertionPointAfter(take);
          return arith::IndexCastOp::create(b, b.getIndexType(),
                                            take.getResult(0));
        },
        [&](Value t, Value counter) -> Value {
          TileCoords tile = tileAt(t, rowTiles);
          Value weightRow = weightRowOf(tile);
          return streamSlices(tile, counter, [&](Value slice, Value stage,
                                                 Value count) {
            Value k = mul(slice, index(GroupedMatmulTiles::kPerStage));
            ifThen(leader, [&] {
              nvgpu::MBarrierArriveExpectTxOp::create(
                  b, full, index(tiles.bStageBytes()), stage, Value());
              issueWeightLoads(k, stage, weightRow);
            });
            gatherRows(tid, k, stage, tile);
            // This thread's copies of the slice `lag` before have landed:
            // make them visible to wgmma and arrive.
            Value landed = sub(count, index(gatherLag()));
            ifThen(cmp(arith::CmpIPredicate::sge, count, index(gatherLag())),
                   [&] {
                     NVVM::CpAsyncWaitGroupOp::create(b, gatherLag());
                     publishGathered(stageOf(landed).first);
                   });
          });
        });
    // The last `lag` slices: wait for all copies.
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    for (int64_t back = gatherLag(); back >= 1; --back)
      ifThen(cmp(arith::CmpIPredicate::uge, streamed, index(back)), [&] {
        publishGathered(stageOf(sub(streamed, index(back))).first);
      });
  }

  /// K-slices whose row copies a gathering producer thread leaves in flight
  /// before it waits for the oldest (cp.async.wait_group): at most depth - 2,
  /// as the consumers release a stage only after they started the next
  /// slice, whose `full` barrier needs this thread's arrival.
  int64_t gatherLag() const { return std::max<int64_t>(tiles.depth - 2, 0); }

  /// After this thread's copies into `stage` landed: cp.async writes through
  /// the generic proxy and wgmma reads through the async proxy, so a proxy
  /// fence orders them before the arrival on `full` that the consumers
  /// acquire.
  void publishGathered(Value stage) {
    NVVM::FenceProxyOp::create(
        b, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
    arrive(full, stage);
  }

  /// This thread's copies of A for the K-slice at `k` into `stage`: chunk
  /// tid % 8 of the tile's rows tid / 8 + 16·i that lie before the expert's
  /// end, each from the token its source names, zero for a negative source.
  /// Written where TMA's 128-byte swizzle would put them (chunk c of row r at
  /// r·128 + 16·(c ^ r % 8)), which the consumers' wgmma descriptors expect.
  /// Rows past the expert's end are left as they are: they only feed output
  /// rows that are never stored. The copies form one cp.async group.
  void gatherRows(Value tid, Value k, Value stage, const TileCoords &tile) {
    Value chunk = remu(tid, index(chunksPerRow));
    Value firstRow = divu(tid, index(chunksPerRow));
    int64_t rowsPerPass = warpgroupThreads / chunksPerRow;
    // r % 8 is the same for all of this thread's rows (16·i adds 0 mod 8).
    Value swizzled = arith::XOrIOp::create(b, chunk, remu(firstRow, index(8)));
    int64_t elementsPerRow = GroupedMatmulTiles::kPerStage;
    int64_t chunkElements = elementsPerRow / chunksPerRow;
    auto stageAType = MemRefType::get(
        {GroupedMatmulTiles::rowsPerTile * elementsPerRow}, element,
        AffineMap(), workgroup);
    Value stageA = memref::ViewOp::create(
        b, stageAType, smem, add(padIndex, mul(stage, index(tiles.stageBytes()))),
        ValueRange{});
    Value column = add(k, mul(chunk, index(chunkElements)));
    Value slotsPerToken = index(slots);
    for (int64_t pass = 0; pass < GroupedMatmulTiles::rowsPerTile / rowsPerPass;
         ++pass) {
      Value rowInTile = add(firstRow, index(pass * rowsPerPass));
      Value row = add(tile.rowBegin, rowInTile);
      ifThen(cmp(arith::CmpIPredicate::ult, row, tile.rowEnd), [&] {
        Value source = arith::IndexCastOp::create(
            b, b.getIndexType(),
            memref::LoadOp::create(b, sources, ValueRange{row}));
        Value used = cmp(arith::CmpIPredicate::sge, source, index(0));
        Value token =
            divu(arith::SelectOp::create(b, used, source, index(0)),
                 slotsPerToken);
        Value copied = arith::SelectOp::create(b, used, index(chunkElements),
                                               index(0));
        Value at = add(mul(rowInTile, index(elementsPerRow)),
                       mul(swizzled, index(chunkElements)));
        nvgpu::DeviceAsyncCopyOp::create(
            b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), stageA,
            ValueRange{at}, rows, ValueRange{token, column},
            b.getIndexAttr(chunkElements), copied, b.getUnitAttr());
      });
    }
    NVVM::CpAsyncCommitGroupOp::create(b);
  }

  /// Starts the loads of K-slice `slice` into `stage`.
  /// `rows`: the expert's rows from rowBegin on (the tile holds the first
  /// 128 of them).
  void issueLoads(Value slice, Value stage, Value rowBegin, Value rows,
                  Value weightRow) {
    Value k = mul(slice, index(GroupedMatmulTiles::kPerStage));
    // A full box counts towards the transaction bytes even where TMA
    // zero-fills it, so a stage expects the boxes' bytes: A's box (the
    // smallest that holds the tile's rows) and B's.
    Value aBytes = index(tiles.aStageBytes());
    for (const ShortBox &box : llvm::reverse(shortA))
      aBytes = arith::SelectOp::create(
          b, cmp(arith::CmpIPredicate::ule, rows, index(box.rows)),
          index(GroupedMatmulTiles::boxBytes(box.rows)), aBytes);
    nvgpu::MBarrierArriveExpectTxOp::create(
        b, full, add(aBytes, index(tiles.bStageBytes())), stage, Value());
    auto load = [&](Value descriptor, Value row, int64_t byteOffset,
                    MemRefType box) {
      Value offset = add(add(padIndex, mul(stage, index(tiles.stageBytes()))),
                         index(byteOffset));
      Value view = memref::ViewOp::create(b, box, smem, offset, ValueRange{});
      nvgpu::TmaAsyncLoadOp::create(b, view, full, descriptor,
                                    ValueRange{k, row}, stage, Value(),
                                    Value());
    };
    // if rows <= 16 (short box 0) ... else if rows <= 64 ... else 128 rows.
    {
      OpBuilder::InsertionGuard guard(b);
      for (const ShortBox &box : shortA) {
        auto ifShort = scf::IfOp::create(
            b, cmp(arith::CmpIPredicate::ule, rows, index(box.rows)),
            /*withElseRegion=*/true);
        b.setInsertionPointToStart(&ifShort.getThenRegion().front());
        load(box.descriptor, rowBegin, 0, box.type);
        b.setInsertionPointToStart(&ifShort.getElseRegion().front());
      }
      load(descA, rowBegin, 0, rowsBoxType);
    }
    issueWeightLoads(k, stage, weightRow);
  }

  /// Starts the TMA loads of the weights (B) of the K-slice at `k` into
  /// `stage`, after A's bytes.
  void issueWeightLoads(Value k, Value stage, Value weightRow) {
    auto load = [&](Value descriptor, Value row, int64_t byteOffset) {
      Value offset = add(add(padIndex, mul(stage, index(tiles.stageBytes()))),
                         index(byteOffset));
      Value view =
          memref::ViewOp::create(b, weightBoxType, smem, offset, ValueRange{});
      nvgpu::TmaAsyncLoadOp::create(b, view, full, descriptor,
                                    ValueRange{k, row}, stage, Value(),
                                    Value());
    };
    int64_t bOffset = tiles.aStageBytes();
    int64_t weightBoxRows = tiles.weightBoxRows();
    int64_t boxBytes = GroupedMatmulTiles::boxBytes(weightBoxRows);
    if (descG) {
      // Gate rows first, then up rows: columns c and c + 128 of the
      // accumulator are gate and up of the same output column.
      load(descG, weightRow, bOffset);
      load(descW, weightRow, bOffset + boxBytes);
      return;
    }
    for (int64_t part = 0; part < tiles.wgmmaN / weightBoxRows; ++part)
      load(descW, add(weightRow, index(part * weightBoxRows)),
           bOffset + part * boxBytes);
  }

  /// Warpgroups 1 and 2, 64 rows of each tile each: wgmma on every stage,
  /// the stage released as soon as the next stage's wgmmas are issued (one
  /// group stays in flight), then the epilogue. A warpgroup whose 64 rows
  /// all lie past the expert's end (the last, partial tile of an expert)
  /// only releases the stages.
  void buildConsumer(Value tid, Value consumer, Value numTiles,
                     Value rowTiles) {
    Value one = index(1);
    // Every consumer thread waits on each phase of `full`, and waits by
    // parity, so none may fall two phases behind: the producer refills a
    // stage only once every warp released it, and a warp releases it (lane
    // 0 arrives) only once all its lanes are past their wait. A single
    // releaser per warpgroup let the other lanes lag (seen on H200: lanes
    // 1-31 of an idle warp spun on a phase that had passed, hanging the
    // kernel).
    Value releaser =
        cmp(arith::CmpIPredicate::eq, remu(tid, index(32)), index(0));
    auto release = [&](Value stage) {
      NVVM::SyncWarpOp::create(
          b, arith::ConstantIntOp::create(b, b.getI32Type(), -1));
      ifThen(releaser, [&] { arrive(empty, stage); });
    };
    auto waitFull = [&](Value counter) -> Value {
      auto [stage, round] = stageOf(counter);
      waitFilled(full, stage, round);
      return stage;
    };
    Value rowBytes =
        toI64(mul(consumer, index(GroupedMatmulTiles::boxBytes(64))));

    int64_t accumulators = tiles.wgmmaN / 2;
    auto accType = LLVM::LLVMStructType::getLiteral(
        b.getContext(), SmallVector<Type>(accumulators, b.getF32Type()));
    auto wgmmaType =
        element.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;

    tileLoop(
        numTiles,
        [&](Value j) -> Value {
          return arith::IndexCastOp::create(b, b.getIndexType(), readTile(j));
        },
        [&](Value t, Value counter) -> Value {
          TileCoords tile = tileAt(t, rowTiles);
          Value myRows = add(tile.rowBegin, mul(consumer, index(64)));
          Value active = cmp(arith::CmpIPredicate::ult, myRows, tile.rowEnd);
          auto ifActive =
              scf::IfOp::create(b, TypeRange{b.getIndexType()}, active,
                                /*withElseRegion=*/true);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(&ifActive.getThenRegion().front());
          Value initial = LLVM::ZeroOp::create(b, accType);
          SmallVector<Value> state = forLoop(
              tile.sliceBegin, tile.sliceEnd, one, {counter, initial},
              [&](Value slice, ValueRange carried) -> SmallVector<Value> {
                Value stage = waitFull(carried[0]);
                Value stageAddress =
                    add(stagesAddress,
                        toI64(mul(stage, index(tiles.stageBytes()))));
                Value aAddress = add(stageAddress, rowBytes);
                Value bAddress = add(stageAddress, i64(tiles.aStageBytes()));
                NVVM::WgmmaFenceAlignedOp::create(b);
                Value acc = carried[1];
                for (int64_t step = 0;
                     step < GroupedMatmulTiles::kPerStage / 16; ++step) {
                  Value descA = wgmmaDescriptor(add(aAddress, i64(32 * step)));
                  Value descB = wgmmaDescriptor(add(bAddress, i64(32 * step)));
                  acc = NVVM::WgmmaMmaAsyncOp::create(
                      b, accType, acc, descA, descB,
                      NVVM::MMAShapeAttr::get(b.getContext(), 64,
                                              int(tiles.wgmmaN), 16),
                      wgmmaType, wgmmaType, NVVM::WGMMATypes::f32,
                      NVVM::WGMMAScaleOut::one, NVVM::WGMMAScaleIn::one,
                      NVVM::WGMMAScaleIn::one, NVVM::MMALayout::row,
                      NVVM::MMALayout::col, NVVM::MMAIntOverflowAttr());
                }
                NVVM::WgmmaGroupSyncAlignedOp::create(b);
                // The previous slice's wgmmas are done: its stage can
                // be refilled while this slice's run.
                NVVM::WgmmaWaitGroupSyncOp::create(b, 1);
                ifThen(cmp(arith::CmpIPredicate::ugt, slice, tile.sliceBegin),
                       [&] { release(stageOf(sub(carried[0], one)).first); });
                return {add(carried[0], one), acc};
              });
          NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
          release(stageOf(sub(state[0], one)).first);
          buildEpilogue(state[1], tid, consumer, tile);
          if (router)
            arriveWithPartials(tid, consumer, tile);
          scf::YieldOp::create(b, ValueRange{state[0]});

          b.setInsertionPointToStart(&ifActive.getElseRegion().front());
          Value idleEnd =
              forLoop(tile.sliceBegin, tile.sliceEnd, one, {counter},
                      [&](Value, ValueRange carried) -> SmallVector<Value> {
                        release(waitFull(carried[0]));
                        return {add(carried[0], one)};
                      })[0];
          scf::YieldOp::create(b, ValueRange{idleEnd});
          return ifActive.getResult(0);
        });
    if (router)
      routeTokens(tid, consumer);
  }

  /// After a consumer warpgroup stored its partial logits of a fused router
  /// tile: each thread's stores are made visible to the GPU, the warpgroup
  /// meets at its own named barrier (1 + consumer; 0 is the block's), and
  /// one thread counts the warpgroup in at the row tile's arrivals.
  void arriveWithPartials(Value tid, Value consumer, const TileCoords &tile) {
    NVVM::MembarOp::create(b, NVVM::MemScopeKind::GPU);
    Type i32 = b.getI32Type();
    NVVM::BarrierOp::create(
        b, TypeRange{},
        arith::IndexCastOp::create(b, i32, add(consumer, index(1))),
        arith::ConstantIntOp::create(b, i32, warpgroupThreads),
        NVVM::BarrierReductionAttr(), Value());
    Value first = cmp(arith::CmpIPredicate::eq,
                      remu(tid, index(warpgroupThreads)), index(0));
    ifThen(first, [&] {
      Value rowTile =
          divu(tile.rowBegin, index(GroupedMatmulTiles::rowsPerTile));
      memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi,
                                  arith::ConstantIntOp::create(b, i32, 1),
                                  router->arrivals, ValueRange{rowTile});
    });
  }

  /// The fused router's second phase, in every consumer warp of every block
  /// once the block's consumers saw the last tile taken: warp w of the grid
  /// routes tokens w, w + W, ... (W the grid's consumer warps). A token's
  /// row tile is complete when all its splits' active warpgroups arrived;
  /// its logits are the sum of the splits' partials in split order (the
  /// same sum in every run). The wait cannot deadlock: every tile was taken
  /// by a running block, and the GEMM tiles wait on no other block.
  void routeTokens(Value tid, Value consumer) {
    Type i32 = b.getI32Type();
    int64_t warpsPerConsumer = warpgroupThreads / 32;
    Value lane = remu(tid, index(32));
    Value warp = add(mul(consumer, index(warpsPerConsumer)),
                     divu(remu(tid, index(warpgroupThreads)), index(32)));
    Value blockId = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    Value firstToken =
        add(mul(blockId, index(consumers * warpsPerConsumer)), warp);
    Value stride = index(numBlocks * consumers * warpsPerConsumer);
    int64_t splits = router->split.splits;
    int64_t experts = outColumns;
    forLoop(firstToken, index(numRows), stride, {},
            [&](Value token, ValueRange) -> SmallVector<Value> {
              Value rowTile =
                  divu(token, index(GroupedMatmulTiles::rowsPerTile));
              // Both warpgroups of a tile arrive unless its second 64 rows
              // lie past T.
              Value secondHalf = add(
                  mul(rowTile, index(GroupedMatmulTiles::rowsPerTile)),
                  index(64));
              Value halves = arith::SelectOp::create(
                  b, cmp(arith::CmpIPredicate::ult, secondHalf,
                         index(numRows)),
                  index(2), index(1));
              Value expected = arith::IndexCastOp::create(
                  b, i32, mul(halves, index(splits)));
              // Lane 0 polls (an atomic read: a plain load could be hoisted
              // out of the loop); the warp barrier holds the other lanes
              // until it saw the tile complete.
              ifThen(cmp(arith::CmpIPredicate::eq, lane, index(0)), [&] {
                scf::WhileOp::create(
                    b, TypeRange{}, ValueRange{},
                    [&](OpBuilder &nested, Location, ValueRange) {
                      OpBuilder::InsertionGuard whileGuard(b);
                      b.setInsertionPoint(nested.getInsertionBlock(),
                                          nested.getInsertionPoint());
                      Value seen = memref::AtomicRMWOp::create(
                          b, arith::AtomicRMWKind::addi,
                          arith::ConstantIntOp::create(b, i32, 0),
                          router->arrivals, ValueRange{rowTile});
                      scf::ConditionOp::create(
                          b,
                          arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                                seen, expected),
                          ValueRange{});
                    },
                    [&](OpBuilder &nested, Location, ValueRange) {
                      OpBuilder::InsertionGuard whileGuard(b);
                      b.setInsertionPoint(nested.getInsertionBlock(),
                                          nested.getInsertionPoint());
                      NVVM::NanosleepOp::create(
                          b, arith::ConstantIntOp::create(b, i32, 64));
                      scf::YieldOp::create(b, ValueRange{});
                    });
              });
              NVVM::SyncWarpOp::create(
                  b, arith::ConstantIntOp::create(b, i32, -1));
              NVVM::MembarOp::create(b, NVVM::MemScopeKind::GPU);
              emitWarpRouting(
                  b, router->routing, experts, lane, token,
                  [&](Value column) {
                    Value sum;
                    for (int64_t split = 0; split < splits; ++split) {
                      Value partial = memref::LoadOp::create(
                          b, router->partials,
                          ValueRange{index(split), token, column});
                      sum = sum ? arith::AddFOp::create(b, sum, partial)
                                : partial;
                    }
                    return sum;
                  },
                  router->bias, router->weights, router->indices);
              return {};
            });
  }

  /// Registers -> output: activation (gated), narrowing (none for an f32
  /// output), rows of the tile past the expert's end and columns past N
  /// skipped.
  void buildEpilogue(Value acc, Value tid, Value consumer,
                     const TileCoords &tile) {
    Value rowBegin = tile.rowBegin, rowEnd = tile.rowEnd;
    Value columnBegin = tile.columnBegin;
    Value lane = arith::RemUIOp::create(b, tid, index(32));
    Value warp = arith::RemUIOp::create(
        b, arith::DivUIOp::create(b, tid, index(32)), index(4));
    Value rowTop =
        add(rowBegin, add(mul(consumer, index(64)),
                          add(mul(warp, index(16)),
                              arith::DivUIOp::create(b, lane, index(4)))));
    Value rowBottom = add(rowTop, index(8));
    Value laneColumn = add(
        columnBegin, mul(arith::RemUIOp::create(b, lane, index(4)), index(2)));
    bool gated = gate != nullptr;
    // The fused router's partial logits go to its split's [T, E] slice.
    auto store = [&](Value value, Value row, Value column) {
      if (router)
        memref::StoreOp::create(b, value, router->partials,
                                ValueRange{tile.split, row, column});
      else
        memref::StoreOp::create(b, value, init, ValueRange{row, column});
    };
    auto valueAt = [&](int64_t i) -> Value {
      Value raw = LLVM::ExtractValueOp::create(b, acc, ArrayRef<int64_t>{i});
      if (!gated)
        return raw;
      // Up is 128 columns (16 column groups of 8, 4 registers each) later.
      Value up =
          LLVM::ExtractValueOp::create(b, acc, ArrayRef<int64_t>{i + 64});
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
            store(value, row, column);
            continue;
          }
          auto ifColumn = scf::IfOp::create(
              b, cmp(arith::CmpIPredicate::ult, column, columnEnd), false);
          OpBuilder::InsertionGuard columnGuard(b);
          b.setInsertionPointToStart(&ifColumn.getThenRegion().front());
          store(value, row, column);
        }
      }
    }
  }

  Operation *anchor;
  GroupedMatmulTiles tiles;
  LoweringBuilder b;
  // The operands (buffers): A (rows, or the tokens they gather from), the
  // weights, and the grouped GEMM's own (null for the fused router).
  Value rows, sources, offsets, weight, gate, init;
  int64_t slots = 0;
  Activation activation = Activation::silu; // With a gate only.
  std::optional<RouterFusion> router;
  Type element, outElement;
  int64_t numRows = 0, reduction = 0, numExperts = 0, outColumns = 0;
  Attribute workgroup;
  MemRefType rowsBoxType, weightBoxType;
  int64_t multiprocessors = 132, columnTiles = 0, numBlocks = 0;
  int64_t rowTilesPerGroup = 1;
  bool gathered = false;
  // Host: the tensor maps. Kernel: dynamic shared memory, its 1024-aligned
  // stages (byte offset and address), the tile prefix, the mbarriers.
  Value descA, descW, descG;
  SmallVector<ShortBox, 2> shortA;
  Value tileCounter;
  Value smem, padIndex, stagesAddress, tileRing, prefix, full, empty, tileFull,
      tileEmpty;
};

/// Buffers of static shape and identity layout (TMA reads them whole), and a
/// grid of at least one block.
LogicalResult checkOperands(Operation *op, int64_t multiprocessors) {
  for (Value operand : op->getOperands()) {
    auto type = dyn_cast<MemRefType>(operand.getType());
    if (!type)
      return op->emitOpError()
             << "must be on buffers for convert-moe-to-gpu (bufferize first)";
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      return op->emitOpError()
             << "needs contiguous operands of static shape for the tensor-core "
                "kernel, got "
             << type;
  }
  if (multiprocessors <= 0)
    return op->emitOpError()
           << "needs a positive multiprocessors option, got "
           << multiprocessors;
  return success();
}

struct ConvertMoEToGPUPass
    : mlir::moe::impl::ConvertMoEToGPUBase<ConvertMoEToGPUPass> {
  using ConvertMoEToGPUBase::ConvertMoEToGPUBase;
  void runOnOperation() override {
    SmallVector<GroupedMatmulOp> ops;
    getOperation().walk([&](GroupedMatmulOp op) { ops.push_back(op); });
    for (GroupedMatmulOp op : ops) {
      if (failed(checkOperands(op, multiprocessors)))
        return signalPassFailure();
      auto rowsType = cast<MemRefType>(op.getRows().getType());
      auto weightType = cast<MemRefType>(op.getWeight().getType());
      std::string why;
      FailureOr<GroupedMatmulTiles> tiles = chooseGroupedMatmulTiles(
          rowsType.getElementType(),
          cast<MemRefType>(op.getInit().getType()).getDimSize(0),
          weightType.getDimSize(1), rowsType.getDimSize(1),
          op.getGate() != nullptr, GroupedMatmulColumns::Masked, &why);
      if (failed(tiles)) {
        op.emitOpError() << "does not fit the tensor-core kernel: " << why;
        return signalPassFailure();
      }
      GroupedMatmulLowering(op, *tiles)
          .withMultiprocessors(multiprocessors)
          .lower();
    }

    SmallVector<FusedRouterOp> routers;
    getOperation().walk([&](FusedRouterOp op) { routers.push_back(op); });
    for (FusedRouterOp op : routers) {
      if (failed(checkOperands(op, multiprocessors)))
        return signalPassFailure();
      auto tokensType = cast<MemRefType>(op.getTokens().getType());
      int64_t tokens = tokensType.getDimSize(0);
      int64_t hidden = tokensType.getDimSize(1);
      int64_t experts =
          cast<MemRefType>(op.getWeight().getType()).getDimSize(0);
      std::string why;
      FailureOr<GroupedMatmulTiles> tiles =
          chooseFusedRouterTiles(tokensType.getElementType(), tokens, experts,
                                 hidden, op.getRouting(), &why);
      if (failed(tiles)) {
        op.emitOpError() << "does not fit the fused router kernel: " << why;
        return signalPassFailure();
      }
      GroupedMatmulLowering(
          op, *tiles, chooseFusedRouterSplit(tokens, hidden, multiprocessors))
          .withMultiprocessors(multiprocessors)
          .lower();
    }
  }
};
} // namespace
