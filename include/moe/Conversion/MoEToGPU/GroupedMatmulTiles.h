//===- GroupedMatmulTiles.h - tiles of the grouped GEMM kernel --*- C++ -*-===//
//
// The one place that decides whether a moe.grouped_matmul fits the Hopper
// tensor-core kernel of convert-moe-to-gpu and with which tiles, so that the
// tensor-level patterns (expert FFNs, router logits) only emit what the
// kernel can run.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_MOETOGPU_GROUPEDMATMULTILES_H
#define MOE_CONVERSION_MOETOGPU_GROUPEDMATMULTILES_H

#include "moe/IR/MoEAttrs.h"

#include "mlir/IR/Types.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::moe {

/// A CTA computes `rowsPerTile` x `columnsPerTile` blocks of the output with
/// two consumer warpgroups (64 rows each, one wgmma m64 n`wgmmaN` k16 per
/// 16-wide step of K); a producer warpgroup's TMA loads keep `depth` stages
/// of K-slices of `kPerStage` in flight.
struct GroupedMatmulTiles {
  static constexpr int64_t rowsPerTile = 128;
  static constexpr int64_t kPerStage = 64; // 128 bytes of 16-bit elements.
  static constexpr int64_t threads = 384; // Producer + 2 consumers.
  int64_t columnsPerTile = 0; // Output columns per CTA.
  int64_t wgmmaN = 0;         // B rows per stage (2 x columns when gated).
  int64_t depth = 0;          // Pipeline stages.

  /// Bytes of a TMA box of `rows` K-slices (kPerStage 16-bit elements each).
  static constexpr int64_t boxBytes(int64_t rows) {
    return rows * kPerStage * 2;
  }
  int64_t aStageBytes() const { return boxBytes(rowsPerTile); }
  int64_t bStageBytes() const { return boxBytes(wgmmaN); }
  int64_t stageBytes() const { return aStageBytes() + bStageBytes(); }
  /// Dynamic shared memory: the stages plus room to align them to 1024 bytes
  /// (the 128-byte swizzle repeats every 1024).
  int64_t sharedBytes() const { return depth * stageBytes() + 1024; }
  /// Rows of one TMA load of B: 128 (one or two loads a stage), or all of a
  /// narrow tile's rows in one load.
  int64_t weightBoxRows() const { return wgmmaN % 128 == 0 ? 128 : wgmmaN; }
  /// Whether the last column tile of `n` output columns is partial: its
  /// columns >= n are computed (on zero-filled or a neighbouring expert's
  /// weight rows) but never stored.
  bool masksColumns(int64_t n) const { return n % columnsPerTile != 0; }
};

/// Which output sizes N the tile choice takes.
enum class GroupedMatmulColumns {
  /// N a multiple of the column tile (128 or 256): every tile is full. What
  /// the expert FFN pattern asks for, so that expert GEMMs never spend
  /// tensor-core work on masked columns.
  Divisible,
  /// Any N: one tile of N rounded up to 8 columns when N <= 256 (wgmma n8 to
  /// n256), else 256-column tiles with the last one partial. Ungated only.
  /// What the kernel runs (convert-moe-to-gpu) and what router logits need
  /// (E = 8, 60, 64, 128, 256, ... columns).
  Masked,
};

/// Tiles for `rows` x `n` outputs reducing over `k` of `element` type, or
/// failure (with the reason in `why` when given) when the kernel does not
/// apply: 16-bit floats, static sizes, K a multiple of 64, N a multiple of 128
/// with a gate, else as `columns` says.
FailureOr<GroupedMatmulTiles>
chooseGroupedMatmulTiles(Type element, int64_t rows, int64_t n, int64_t k,
                         bool gated,
                         GroupedMatmulColumns columns =
                             GroupedMatmulColumns::Divisible,
                         std::string *why = nullptr);

/// When the router logits GEMM `logits[T, E] = x[T, H] · W_r[E, H]^T` (f32
/// logits, f32 accumulation) runs on the tensor-core kernel, as a one-group
/// moe.grouped_matmul (offsets [0, T], f32 output;
/// convert-moe-to-parallel-linalg{tensor-cores}):
///
/// * x and W_r of one 16-bit float type (bf16/f16), static sizes, H a
///   multiple of 64 (K-slices of the kernel); any T (rows past T are
///   zero-filled by TMA and not stored) and any E (masked columns);
/// * the IR form, checked by the pattern (GroupedRouterLogits.cpp): the
///   `out_in` router weight (linalg.matmul with B transposed, K contiguous
///   as the TMA loads need), a zero-filled f32 init (the op overwrites, the
///   matmul accumulates), default casts, at the top level of a function (the
///   kernel is a launch of its own, not a loop body inside another kernel),
///   and x and W_r not `tensor.extract_slice` results (their buffers would be
///   strided views; TMA needs contiguous ones). Router bias stays in
///   moe.router (selection only).
///
/// Returns the tiles, or failure with the reason in `why`.
FailureOr<GroupedMatmulTiles>
chooseRouterLogitsTiles(Type element, int64_t tokens, int64_t experts,
                        int64_t hidden, std::string *why = nullptr);

/// How the fused router kernel (moe.fused_router) splits the router GEMM's
/// reduction: `splits` ranges of `slicesPerSplit` K-slices (the last one
/// possibly shorter, none empty), each a tile of its own, so that a decode
/// step's one row tile still spreads over many multiprocessors.
struct FusedRouterSplit {
  int64_t splits = 1;
  int64_t slicesPerSplit = 1;
};

/// At most 8 splits (a token's logits are the sum of that many partials),
/// at least 4 K-slices each, and no more tiles than `multiprocessors` can
/// take at once: `multiprocessors / row tiles` splits, at least one.
FusedRouterSplit chooseFusedRouterSplit(int64_t tokens, int64_t hidden,
                                        int64_t multiprocessors);

/// The tiles of convert-moe-to-gpu's fused router kernel for a
/// moe.fused_router of `tokens` x `hidden` `element`s over `experts` experts
/// with `routing`: the router logits GEMM's (chooseRouterLogitsTiles), where
/// also every expert fits one column tile (E <= 256) and a warp can route
/// (WarpRouter.h). Failure otherwise, with the reason in `why` when given.
FailureOr<GroupedMatmulTiles>
chooseFusedRouterTiles(Type element, int64_t tokens, int64_t experts,
                       int64_t hidden, RoutingAttr routing,
                       std::string *why = nullptr);

} // namespace mlir::moe

#endif // MOE_CONVERSION_MOETOGPU_GROUPEDMATMULTILES_H
