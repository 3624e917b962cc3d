//===- CombineToGPU.cpp - convert-moe-combine-to-gpu ----------------------===//
//
// moe.combine at a function's top level -> the slot rows of the parallel form
// (combineSlotRows: the inverse of `sources`), then one gpu.launch in which
// each thread owns 16 bytes of a token's output row: for each slot k in
// order it loads 16 bytes of the slot's expert row (`vector.load`, aligned to
// 16, so one 128-bit load), scales it by the slot's weight in f32 and adds,
// then stores 16 bytes of the result. Built on tensors like
// convert-moe-router-to-gpu: the kernel reads `bufferization.to_buffer
// read_only` of its operands and writes a `memref.alloc` that
// `bufferization.to_tensor restrict writable` returns.
//
// Why: the parallel form computes one element per thread, with a 2-byte
// load of each of the K expert rows: the Qwen3-30B-A3B and DeepSeek-V3
// prefill combines moved about 1 TB/s (273 and 477 us on an H200), a
// quarter of what the memory gives, bound by load instructions in flight.
//
// Same numerics as the parallel form: f32 accumulation, slots summed in
// order, a slot without a row (dropped or unrouted) adds nothing (its
// weight is not even multiplied: the select keeps the sum, so a NaN in a
// row nobody routed to cannot leak in).
//
// Taken only where the 16-byte accesses are aligned by construction: static
// shapes, rows of whole 16-byte vectors (H a multiple of 8 for bf16 and f16,
// of 4 for f32), and expert rows that an op of the moe dialect produced (a
// buffer the run allocates, so its base is aligned; a caller's tensor need
// not be).
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "Forms.h"
#include "LoweringBuilder.h"
#include "TensorKernels.h"
#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOECOMBINETOGPU
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Bytes each thread loads from an expert row and stores to the result.
constexpr int64_t kVectorBytes = 16;

/// Why the vector kernel does not take `op` (it then keeps the parallel form
/// of convert-moe-to-parallel-linalg), or an empty string.
std::string unsupportedReason(CombineOp op) {
  if (!isa<FunctionOpInterface>(op->getParentOp()))
    return "not at a function's top level";
  auto outputsType = cast<RankedTensorType>(op.getExpertOutputs().getType());
  auto resultType = op.getResult().getType();
  if (!outputsType.hasStaticShape() || !resultType.hasStaticShape() ||
      !op.getWeights().getType().hasStaticShape())
    return "dynamic shapes";
  if (outputsType.getDimSize(0) == 0 || resultType.getDimSize(0) == 0)
    return "no rows";
  Type element = outputsType.getElementType();
  if (element != resultType.getElementType())
    return "the result's element type differs from the rows'";
  unsigned bits = element.getIntOrFloatBitWidth();
  if (bits != 16 && bits != 32)
    return "elements of neither 16 nor 32 bits";
  int64_t lanes = kVectorBytes * 8 / bits;
  if (outputsType.getDimSize(1) % lanes != 0)
    return "rows are not whole 16-byte vectors";
  Operation *producer = op.getExpertOutputs().getDefiningOp();
  if (!producer || !isa<MoEDialect>(producer->getDialect()))
    return "the rows may not be 16-byte aligned (not made by a moe op)";
  return "";
}

struct CombineToVectorKernel : OpRewritePattern<CombineOp> {
  CombineToVectorKernel(MLIRContext *context, int64_t blockSize)
      : OpRewritePattern(context), blockSize(blockSize) {}

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    std::string why = unsupportedReason(op);
    if (!why.empty())
      return rewriter.notifyMatchFailure(op, why);
    LoweringBuilder b(op.getLoc(), rewriter);
    auto resultType = op.getResult().getType();
    auto weightsType = op.getWeights().getType();
    Type element = resultType.getElementType();
    int64_t tokens = resultType.getDimSize(0), hidden = resultType.getDimSize(1);
    int64_t topK = weightsType.getDimSize(1);
    int64_t lanes = kVectorBytes * 8 / element.getIntOrFloatBitWidth();
    int64_t vectorsPerRow = hidden / lanes;

    Value slotRowsTensor = combineSlotRows(b, op.getExpertOutputs(),
                                           op.getSources(), op.getWeights());
    auto readOnly = [&](Value tensor) {
      return readOnlyBuffer(b, b.getLoc(), tensor);
    };
    Value rows = readOnly(op.getExpertOutputs());
    Value slotRows = readOnly(slotRowsTensor);
    Value weights = readOnly(op.getWeights());
    auto resultBuffer = memref::AllocOp::create(
        b, MemRefType::get(resultType.getShape(), element));

    int64_t threads = tokens * vectorsPerRow;
    Value one = b.index(1);
    auto launch = gpu::LaunchOp::create(
        b, b.index(llvm::divideCeil(threads, blockSize)), one, one,
        b.index(blockSize), one, one);
    {
      OpBuilder::InsertionGuard guard(b);
      Block &body = launch.getBody().front();
      b.setInsertionPointToStart(&body);
      Value thread = arith::AddIOp::create(
          b,
          arith::MulIOp::create(b, launch.getBlockIds().x, b.index(blockSize)),
          launch.getThreadIds().x);
      Value inRange = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                            thread, b.index(threads));
      auto ifThread = scf::IfOp::create(b, inRange, /*withElseRegion=*/false);
      b.setInsertionPointToStart(&ifThread.getThenRegion().front());
      // Consecutive threads take consecutive 16 bytes of a row: a warp reads
      // 512 contiguous bytes of each expert row.
      Value perRow = b.index(vectorsPerRow);
      Value token = arith::DivUIOp::create(b, thread, perRow);
      Value column = arith::MulIOp::create(
          b, arith::RemUIOp::create(b, thread, perRow), b.index(lanes));
      auto narrow = VectorType::get({lanes}, element);
      auto wide = VectorType::get({lanes}, b.getF32Type());
      Value sum = arith::ConstantOp::create(
          b, wide, DenseElementsAttr::get(wide, b.getF32FloatAttr(0.0f)));
      Value zero = b.index(0);
      llvm::MaybeAlign aligned(kVectorBytes);
      for (int64_t k = 0; k < topK; ++k) {
        Value slot = arith::AddIOp::create(
            b, arith::MulIOp::create(b, token, b.index(topK)), b.index(k));
        Value row = memref::LoadOp::create(b, slotRows, ValueRange{slot});
        Value used =
            arith::CmpIOp::create(b, arith::CmpIPredicate::sge, row, zero);
        // Every slot loads (row 0 stands in for none) so that the K loads
        // are in flight together; the select drops what is not routed.
        Value safeRow = arith::SelectOp::create(b, used, row, zero);
        Value values = vector::LoadOp::create(b, narrow, rows,
                                              ValueRange{safeRow, column},
                                              /*nontemporal=*/false, aligned);
        if (narrow != wide)
          values = arith::ExtFOp::create(b, wide, values);
        Value weight =
            b.toF32(memref::LoadOp::create(b, weights, ValueRange{token, b.index(k)}));
        Value scaled = arith::MulFOp::create(
            b, vector::BroadcastOp::create(b, wide, weight), values);
        sum = arith::SelectOp::create(b, used,
                                      arith::AddFOp::create(b, sum, scaled), sum);
      }
      Value result = narrow != wide
                         ? Value(arith::TruncFOp::create(b, narrow, sum))
                         : sum;
      vector::StoreOp::create(b, result, resultBuffer,
                              ValueRange{token, column},
                              /*nontemporal=*/false, aligned);
      b.setInsertionPointToEnd(&body);
      gpu::TerminatorOp::create(b);
    }
    rewriter.replaceOp(op,
                       writtenTensor(b, b.getLoc(), resultType, resultBuffer));
    return success();
  }

  int64_t blockSize;
};

struct ConvertMoECombineToGPUPass
    : mlir::moe::impl::ConvertMoECombineToGPUBase<ConvertMoECombineToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    if (blockSize < 32 || blockSize > 1024 || blockSize % 32 != 0) {
      getOperation().emitError()
          << "convert-moe-combine-to-gpu: block-size must be a multiple of 32 "
             "between 32 and 1024, got "
          << static_cast<int64_t>(blockSize);
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<CombineToVectorKernel>(&getContext(), blockSize);
    if (failed(applyKernelPatterns(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
