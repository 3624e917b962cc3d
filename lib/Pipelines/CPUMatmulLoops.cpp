//===- CPUMatmulLoops.cpp - matmuls as vectorisable loops on the CPU ------===//
//
// convert-linalg-to-loops turns C += A·B into an i-j-k nest that loads and
// stores C[i, j] at every k: LLVM cannot keep the sum in a register (it cannot
// prove C does not alias A or B) and so never vectorises it. This rewrites
// buffer-level linalg.matmul, in the two layouts the moe lowering produces,
// into loops LLVM's vectoriser handles:
//   C = A·Bᵀ (B [N, K], Hugging Face weights): blocks of 2 rows x 4 columns
//     of dot products over k in scalar accumulators that share the loads of
//     A's and B's rows, with reassociation allowed so that they become SIMD
//     partial sums (tails take one row / one column);
//   C = A·B  (B [K, N]): for i, k: C[i, :] += A[i, k] · B[k, :], an axpy over
//     the contiguous rows of B and C.
// Products accumulate in C's element type (f32 in the moe lowering).
//
//===----------------------------------------------------------------------===//

#include "CPUMatmulLoops.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace {

/// Loads `memref[indices]` widened to `type`.
Value loadAs(ImplicitLocOpBuilder &b, Value memref, ValueRange indices,
             Type type) {
  Value value = memref::LoadOp::create(b, memref, indices);
  if (value.getType() == type)
    return value;
  return arith::ExtFOp::create(b, type, value);
}

struct CPUMatmulLoops
    : PassWrapper<CPUMatmulLoops, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(CPUMatmulLoops)
  StringRef getArgument() const final { return "moe-cpu-matmul-loops"; }
  StringRef getDescription() const final {
    return "Rewrites buffer-level linalg.matmul into loops LLVM vectorises";
  }

  void runOnOperation() override {
    SmallVector<linalg::MatmulOp> matmuls;
    getOperation().walk([&](linalg::MatmulOp op) {
      if (op.hasPureBufferSemantics())
        matmuls.push_back(op);
    });
    MLIRContext *context = &getContext();
    AffineExpr i, j, k;
    bindDims(context, i, j, k);
    auto maps = [&](ArrayRef<AffineExpr> b) {
      return SmallVector<AffineMap>{AffineMap::get(3, 0, {i, k}, context),
                                    AffineMap::get(3, 0, b, context),
                                    AffineMap::get(3, 0, {i, j}, context)};
    };
    SmallVector<AffineMap> plain = maps({k, j}), transposed = maps({j, k});
    for (linalg::MatmulOp op : matmuls) {
      SmallVector<AffineMap> indexing = op.getIndexingMapsArray();
      bool isTransposed = indexing == transposed;
      if (!isTransposed && indexing != plain)
        continue; // other layouts keep the generic lowering
      Value a = op.getDpsInputs()[0], bMat = op.getDpsInputs()[1];
      Value c = op.getDpsInits()[0];
      auto cType = cast<MemRefType>(c.getType());
      Type accType = cType.getElementType();
      if (!isa<FloatType>(accType))
        continue;
      ImplicitLocOpBuilder b(op.getLoc(), op);
      auto fast = arith::FastMathFlagsAttr::get(
          context, arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
      Value zero = arith::ConstantIndexOp::create(b, 0);
      Value one = arith::ConstantIndexOp::create(b, 1);
      Value rows = memref::DimOp::create(b, a, 0);
      Value depth = memref::DimOp::create(b, a, 1);
      Value cols = memref::DimOp::create(b, c, 1);
      if (isTransposed) {
        // Blocks of 2 rows x 4 columns share each load of A's rows and B's
        // rows across 8 accumulators; tails take one row / one column.
        constexpr int64_t kRowBlock = 2, kColBlock = 4;
        auto roundDown = [&](Value size, int64_t block) -> Value {
          Value step = arith::ConstantIndexOp::create(b, block);
          return arith::MulIOp::create(
              b, arith::DivUIOp::create(b, size, step), step);
        };
        Value blockedRows = roundDown(rows, kRowBlock);
        Value blockedCols = roundDown(cols, kColBlock);
        auto offsetBy = [](ImplicitLocOpBuilder &bb, Value base, int64_t q) {
          return q == 0 ? base
                        : Value(arith::AddIOp::create(
                              bb, base, arith::ConstantIndexOp::create(bb, q)));
        };
        // C[i0 + r, j0 + q] += Σ_k A[i0 + r, k] · B[j0 + q, k].
        auto dotBlock = [&](ImplicitLocOpBuilder &bj, Value i0, int64_t rowCount,
                            Value j0, int64_t colCount) {
          SmallVector<Value> rowIndex, colIndex, inits;
          for (int64_t r = 0; r < rowCount; ++r)
            rowIndex.push_back(offsetBy(bj, i0, r));
          for (int64_t q = 0; q < colCount; ++q)
            colIndex.push_back(offsetBy(bj, j0, q));
          for (int64_t r = 0; r < rowCount; ++r)
            for (int64_t q = 0; q < colCount; ++q)
              inits.push_back(memref::LoadOp::create(
                  bj, c, ValueRange{rowIndex[r], colIndex[q]}));
          auto sums = scf::ForOp::create(
              bj, zero, depth, one, inits,
              [&](OpBuilder &nb3, Location loc3, Value kv, ValueRange acc) {
                ImplicitLocOpBuilder bk(loc3, nb3);
                SmallVector<Value> xs, ys, next;
                for (int64_t r = 0; r < rowCount; ++r)
                  xs.push_back(loadAs(bk, a, {rowIndex[r], kv}, accType));
                for (int64_t q = 0; q < colCount; ++q)
                  ys.push_back(loadAs(bk, bMat, {colIndex[q], kv}, accType));
                for (int64_t r = 0; r < rowCount; ++r)
                  for (int64_t q = 0; q < colCount; ++q) {
                    Value product =
                        arith::MulFOp::create(bk, xs[r], ys[q], fast);
                    next.push_back(arith::AddFOp::create(
                        bk, acc[r * colCount + q], product, fast));
                  }
                scf::YieldOp::create(bk, next);
              });
          for (int64_t r = 0; r < rowCount; ++r)
            for (int64_t q = 0; q < colCount; ++q)
              memref::StoreOp::create(bj, sums.getResult(r * colCount + q), c,
                                      ValueRange{rowIndex[r], colIndex[q]});
        };
        // One band of `rowCount` rows starting at i0: blocked columns, then
        // the column tail.
        auto band = [&](ImplicitLocOpBuilder &bi, Value i0, int64_t rowCount) {
          scf::ForOp::create(
              bi, zero, blockedCols,
              arith::ConstantIndexOp::create(bi, kColBlock), ValueRange{},
              [&](OpBuilder &nb2, Location loc2, Value jv, ValueRange) {
                ImplicitLocOpBuilder bj(loc2, nb2);
                dotBlock(bj, i0, rowCount, jv, kColBlock);
                scf::YieldOp::create(bj);
              });
          scf::ForOp::create(
              bi, blockedCols, cols, one, ValueRange{},
              [&](OpBuilder &nb2, Location loc2, Value jv, ValueRange) {
                ImplicitLocOpBuilder bj(loc2, nb2);
                dotBlock(bj, i0, rowCount, jv, 1);
                scf::YieldOp::create(bj);
              });
        };
        scf::ForOp::create(b, zero, blockedRows,
                           arith::ConstantIndexOp::create(b, kRowBlock),
                           ValueRange{},
                           [&](OpBuilder &nb, Location loc, Value iv, ValueRange) {
                             ImplicitLocOpBuilder bi(loc, nb);
                             band(bi, iv, kRowBlock);
                             scf::YieldOp::create(bi);
                           });
        scf::ForOp::create(b, blockedRows, rows, one, ValueRange{},
                           [&](OpBuilder &nb, Location loc, Value iv, ValueRange) {
                             ImplicitLocOpBuilder bi(loc, nb);
                             band(bi, iv, 1);
                             scf::YieldOp::create(bi);
                           });
      } else {
        scf::ForOp::create(b, zero, rows, one, ValueRange{},
            [&](OpBuilder &nb, Location loc, Value iv, ValueRange) {
              ImplicitLocOpBuilder bi(loc, nb);
              scf::ForOp::create(bi, zero, depth, one, ValueRange{},
                  [&](OpBuilder &nb2, Location loc2, Value kv, ValueRange) {
                    ImplicitLocOpBuilder bk(loc2, nb2);
                    Value x = loadAs(bk, a, {iv, kv}, accType);
                    scf::ForOp::create(bk, zero, cols, one, ValueRange{},
                        [&](OpBuilder &nb3, Location loc3, Value jv, ValueRange) {
                          ImplicitLocOpBuilder bj(loc3, nb3);
                          Value y = loadAs(bj, bMat, {kv, jv}, accType);
                          Value old = memref::LoadOp::create(bj, c, ValueRange{iv, jv});
                          Value product = arith::MulFOp::create(bj, x, y, fast);
                          Value next = arith::AddFOp::create(bj, old, product, fast);
                          memref::StoreOp::create(bj, next, c, ValueRange{iv, jv});
                          scf::YieldOp::create(bj);
                        });
                    scf::YieldOp::create(bk);
                  });
              scf::YieldOp::create(bi);
            });
      }
      op.erase();
    }
  }
};
} // namespace

std::unique_ptr<Pass> mlir::moe::createCPUMatmulLoopsPass() {
  return std::make_unique<CPUMatmulLoops>();
}

void mlir::moe::registerCPUMatmulLoopsPass() {
  PassRegistration<CPUMatmulLoops>();
}
