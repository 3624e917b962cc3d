//===- GroupedMatmulTiles.h - tiles of the grouped GEMM kernel --*- C++ -*-===//
//
// The one place that decides whether a moe.grouped_matmul fits the Hopper
// tensor-core kernel of convert-moe-to-gpu and with which tiles, so that the
// tensor-level pattern only emits what the kernel can run.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_MOETOGPU_GROUPEDMATMULTILES_H
#define MOE_CONVERSION_MOETOGPU_GROUPEDMATMULTILES_H

#include "mlir/IR/Types.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::moe {

/// A CTA computes a `rowsPerTile` x `columnsPerTile` block of the output with
/// two consumer warpgroups (64 rows each, one wgmma m64 n`wgmmaN` k16 per
/// 16-wide step of K); TMA brings `depth` stages of K-slices of `kPerStage`.
struct GroupedMatmulTiles {
  static constexpr int64_t rowsPerTile = 128;
  static constexpr int64_t kPerStage = 64; // 128 bytes of 16-bit elements.
  static constexpr int64_t threads = 256;
  int64_t columnsPerTile = 0; // Output columns per CTA.
  int64_t wgmmaN = 0;         // B rows per stage (2 x columns when gated).
  int64_t depth = 0;          // Pipeline stages.

  int64_t aStageBytes() const { return rowsPerTile * kPerStage * 2; }
  int64_t bStageBytes() const { return wgmmaN * kPerStage * 2; }
  int64_t stageBytes() const { return aStageBytes() + bStageBytes(); }
  /// Dynamic shared memory: the stages plus room to align them to 1024 bytes
  /// (the 128-byte swizzle repeats every 1024).
  int64_t sharedBytes() const { return depth * stageBytes() + 1024; }
};

/// Tiles for `rows` x `n` outputs reducing over `k` of `element` type, or
/// failure (with the reason in `why` when given) when the kernel does not
/// apply: 16-bit floats, K a multiple of 64, N of 128 (gated) or 128/256.
FailureOr<GroupedMatmulTiles>
chooseGroupedMatmulTiles(Type element, int64_t rows, int64_t n, int64_t k,
                         bool gated, std::string *why = nullptr);

} // namespace mlir::moe

#endif // MOE_CONVERSION_MOETOGPU_GROUPEDMATMULTILES_H
