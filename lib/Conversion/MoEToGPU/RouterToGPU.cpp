//===- RouterToGPU.cpp - convert-moe-router-to-gpu ------------------------===//
//
// moe.router (scoring + top-k) at a function's top level -> one gpu.launch
// with one warp per token, built on tensors: the kernel reads
// `bufferization.to_buffer read_only` of the logits (and bias) and writes two
// fresh buffers that `bufferization.to_tensor restrict` turns into the
// results, so one-shot bufferization and moe-map-loops-to-gpu take it as
// they take the other kernels.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/GroupedMatmulTiles.h"
#include "moe/Conversion/Passes.h"

#include "Forms.h"
#include "LoweringBuilder.h"
#include "TensorKernels.h"
#include "WarpRouter.h"
#include "moe/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOEROUTERTOGPU
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr int64_t kWarpSize = 32;

/// Why the warp kernel does not take `op` (it then keeps the loop form of
/// convert-moe-to-parallel-linalg), or an empty string.
std::string unsupportedReason(RouterOp op) {
  if (!isa<FunctionOpInterface>(op->getParentOp()))
    return "not at a function's top level";
  auto logitsType = cast<RankedTensorType>(op.getLogits().getType());
  return warpRoutingUnsupportedReason(logitsType.getDimSize(1),
                                      op.getRouting());
}

struct RouterToWarpKernel : OpRewritePattern<RouterOp> {
  RouterToWarpKernel(MLIRContext *context, int64_t warpsPerBlock)
      : OpRewritePattern(context), warpsPerBlock(warpsPerBlock) {}

  LogicalResult matchAndRewrite(RouterOp op,
                                PatternRewriter &rewriter) const override {
    std::string why = unsupportedReason(op);
    if (!why.empty())
      return rewriter.notifyMatchFailure(op, why);
    LoweringBuilder b(op.getLoc(), rewriter);
    RoutingAttr routing = op.getRouting();
    auto logitsType = cast<RankedTensorType>(op.getLogits().getType());
    auto weightsType = op.getWeights().getType();
    auto indicesType = op.getIndices().getType();
    int64_t experts = logitsType.getDimSize(1);

    auto readOnly = [&](Value tensor) {
      return readOnlyBuffer(b, b.getLoc(), tensor);
    };
    Value logits = readOnly(op.getLogits());
    Value bias = op.getBias() ? readOnly(op.getBias()) : Value();
    Value tokens = memref::DimOp::create(b, logits, 0);
    SmallVector<Value> dynamicTokens;
    if (weightsType.isDynamicDim(0))
      dynamicTokens.push_back(tokens);
    auto weightsBuffer = memref::AllocOp::create(
        b, MemRefType::get(weightsType.getShape(), weightsType.getElementType()),
        dynamicTokens);
    auto indicesBuffer = memref::AllocOp::create(
        b, MemRefType::get(indicesType.getShape(), indicesType.getElementType()),
        dynamicTokens);

    // At least one block: CUDA refuses an empty grid (T = 0).
    Value warps = b.index(warpsPerBlock);
    Value blocks = arith::MaxUIOp::create(
        b, arith::CeilDivUIOp::create(b, tokens, warps), b.index(1));
    Value one = b.index(1);
    auto launch = gpu::LaunchOp::create(b, blocks, one, one,
                                        b.index(kWarpSize * warpsPerBlock),
                                        one, one);
    {
      OpBuilder::InsertionGuard guard(b);
      Block &body = launch.getBody().front();
      b.setInsertionPointToStart(&body);
      Value thread = launch.getThreadIds().x;
      Value warp = arith::DivUIOp::create(b, thread, b.index(kWarpSize));
      Value lane = arith::RemUIOp::create(b, thread, b.index(kWarpSize));
      Value token = arith::AddIOp::create(
          b, arith::MulIOp::create(b, launch.getBlockIds().x, warps), warp);
      Value inRange = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                            token, tokens);
      // Whole warps leave together: the shuffles below need every lane.
      auto ifToken = scf::IfOp::create(b, inRange, /*withElseRegion=*/false);
      b.setInsertionPointToStart(&ifToken.getThenRegion().front());
      emitWarpRouting(
          b, routing, experts, lane, token,
          [&](Value column) {
            return b.toF32(
                memref::LoadOp::create(b, logits, ValueRange{token, column}));
          },
          bias, weightsBuffer, indicesBuffer);
      b.setInsertionPointToEnd(&body);
      gpu::TerminatorOp::create(b);
    }
    Value weights = writtenTensor(b, b.getLoc(), weightsType, weightsBuffer);
    Value indices = writtenTensor(b, b.getLoc(), indicesType, indicesBuffer);
    rewriter.replaceOp(op, {weights, indices});
    return success();
  }

  int64_t warpsPerBlock;
};

} // namespace

bool mlir::moe::runsFusedRouterKernel(Operation *op, Value tokens,
                                      Value weight, RoutingAttr routing) {
  if (!isa<FunctionOpInterface>(op->getParentOp()))
    return false;
  for (Value operand : {tokens, weight})
    if (operand.getDefiningOp<tensor::ExtractSliceOp>())
      return false;
  auto tokensType = cast<RankedTensorType>(tokens.getType());
  auto weightType = cast<RankedTensorType>(weight.getType());
  return succeeded(chooseFusedRouterTiles(
      tokensType.getElementType(), tokensType.getDimSize(0),
      weightType.getDimSize(0), tokensType.getDimSize(1), routing));
}

namespace {

struct ConvertMoERouterToGPUPass
    : mlir::moe::impl::ConvertMoERouterToGPUBase<ConvertMoERouterToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    if (warpsPerBlock < 1 || warpsPerBlock > 32) {
      getOperation().emitError()
          << "convert-moe-router-to-gpu: warps-per-block must be between 1 "
             "and 32, got "
          << static_cast<int64_t>(warpsPerBlock);
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<RouterToWarpKernel>(&getContext(), warpsPerBlock);
    if (fuseLogits) {
      int64_t maxTokens = fuseMaxTokens;
      populateRouterFusionPatterns(
          patterns, [maxTokens](Operation *op, Value tokens, Value weight,
                                RoutingAttr routing) {
            int64_t count = cast<ShapedType>(tokens.getType()).getDimSize(0);
            return !ShapedType::isDynamic(count) && count <= maxTokens &&
                   runsFusedRouterKernel(op, tokens, weight, routing);
          });
    }
    if (failed(applyKernelPatterns(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
