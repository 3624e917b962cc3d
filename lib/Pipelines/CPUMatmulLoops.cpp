//===- CPUMatmulLoops.cpp - matmuls as vectorisable loops on the CPU ------===//
//
// convert-linalg-to-loops turns C += A·B into an i-j-k nest that loads and
// stores C[i, j] at every k: LLVM cannot keep the sum in a register (it cannot
// prove C does not alias A or B) and so never vectorises it. This rewrites
// buffer-level linalg.matmul, in the two layouts the moe lowering produces,
// into loops LLVM's vectoriser handles:
//   C = A·Bᵀ (B [N, K], Hugging Face weights): for i, and four j at a time:
//     dot products over k in scalar accumulators sharing each load of A, with
//     reassociation allowed so that they become SIMD partial sums;
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
        // Four outputs per step share each load of A's row; the tail takes
        // one output at a time.
        constexpr int64_t kBlock = 4;
        Value block = arith::ConstantIndexOp::create(b, kBlock);
        Value blocked = arith::MulIOp::create(
            b, arith::DivUIOp::create(b, cols, block), block);
        auto dotProducts = [&](ImplicitLocOpBuilder &bj, Value iv, Value jv,
                               int64_t count) {
          SmallVector<Value> columns, inits;
          for (int64_t q = 0; q < count; ++q) {
            Value column = q == 0 ? jv
                                  : Value(arith::AddIOp::create(
                                        bj, jv,
                                        arith::ConstantIndexOp::create(bj, q)));
            columns.push_back(column);
            inits.push_back(memref::LoadOp::create(bj, c, ValueRange{iv, column}));
          }
          auto sums = scf::ForOp::create(
              bj, zero, depth, one, inits,
              [&](OpBuilder &nb3, Location loc3, Value kv, ValueRange acc) {
                ImplicitLocOpBuilder bk(loc3, nb3);
                Value x = loadAs(bk, a, {iv, kv}, accType);
                SmallVector<Value> next;
                for (int64_t q = 0; q < count; ++q) {
                  Value y = loadAs(bk, bMat, {columns[q], kv}, accType);
                  Value product = arith::MulFOp::create(bk, x, y, fast);
                  next.push_back(arith::AddFOp::create(bk, acc[q], product, fast));
                }
                scf::YieldOp::create(bk, next);
              });
          for (int64_t q = 0; q < count; ++q)
            memref::StoreOp::create(bj, sums.getResult(q), c,
                                    ValueRange{iv, columns[q]});
        };
        scf::ForOp::create(b, zero, rows, one, ValueRange{},
            [&](OpBuilder &nb, Location loc, Value iv, ValueRange) {
              ImplicitLocOpBuilder bi(loc, nb);
              scf::ForOp::create(bi, zero, blocked, block, ValueRange{},
                  [&](OpBuilder &nb2, Location loc2, Value jv, ValueRange) {
                    ImplicitLocOpBuilder bj(loc2, nb2);
                    dotProducts(bj, iv, jv, kBlock);
                    scf::YieldOp::create(bj);
                  });
              scf::ForOp::create(bi, blocked, cols, one, ValueRange{},
                  [&](OpBuilder &nb2, Location loc2, Value jv, ValueRange) {
                    ImplicitLocOpBuilder bj(loc2, nb2);
                    dotProducts(bj, iv, jv, 1);
                    scf::YieldOp::create(bj);
                  });
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
