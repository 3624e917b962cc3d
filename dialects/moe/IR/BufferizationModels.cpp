//===- BufferizationModels.cpp - destination-style moe ops on buffers -----===//
//
// One-shot bufferization of the destination-style ops, moe.grouped_matmul
// and moe.fused_router: each result is its destination's buffer written in
// place. Every operand of moe.grouped_matmul is read (rows outside the
// experts keep `init`); moe.fused_router overwrites its destinations whole
// (DstBufferizableOpInterfaceExternalModel reads them too, which only costs
// a copy where a destination's tensor is still used elsewhere).
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"

using namespace mlir;
using namespace mlir::moe;

namespace {
struct GroupedMatmulBufferization
    : bufferization::DstBufferizableOpInterfaceExternalModel<
          GroupedMatmulBufferization, GroupedMatmulOp> {
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const bufferization::BufferizationOptions &options,
                          bufferization::BufferizationState &state) const {
    auto matmul = cast<GroupedMatmulOp>(op);
    if (!matmul.getResult())
      return success(); // Already on buffers.
    // Optional operands (sources, gate) stay absent.
    auto bufferOf = [&](Value operand) -> FailureOr<Value> {
      if (!operand)
        return Value();
      return bufferization::getBuffer(rewriter, operand, options, state);
    };
    FailureOr<Value> rows = bufferOf(matmul.getRows()),
                     sources = bufferOf(matmul.getSources()),
                     offsets = bufferOf(matmul.getOffsets()),
                     weight = bufferOf(matmul.getWeight()),
                     gate = bufferOf(matmul.getGate()),
                     init = bufferOf(matmul.getInit());
    for (const FailureOr<Value> &buffer :
         {rows, sources, offsets, weight, gate, init})
      if (failed(buffer))
        return failure();
    rewriter.setInsertionPoint(op);
    GroupedMatmulOp::create(rewriter, op->getLoc(), Type(), *rows, *sources,
                            *offsets, *weight, *gate, *init,
                            matmul.getSlotsAttr(), matmul.getActivationAttr());
    bufferization::replaceOpWithBufferizedValues(rewriter, op, *init);
    return success();
  }
};

struct FusedRouterBufferization
    : bufferization::DstBufferizableOpInterfaceExternalModel<
          FusedRouterBufferization, FusedRouterOp> {
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const bufferization::BufferizationOptions &options,
                          bufferization::BufferizationState &state) const {
    auto router = cast<FusedRouterOp>(op);
    if (router.getResults().empty())
      return success(); // Already on buffers.
    SmallVector<Value> buffers;
    for (Value operand : op->getOperands()) {
      FailureOr<Value> buffer =
          bufferization::getBuffer(rewriter, operand, options, state);
      if (failed(buffer))
        return failure();
      buffers.push_back(*buffer);
    }
    Value bias = router.getBias() ? buffers[2] : Value();
    Value weights = buffers[buffers.size() - 2];
    Value indices = buffers.back();
    rewriter.setInsertionPoint(op);
    FusedRouterOp::create(rewriter, op->getLoc(), TypeRange{}, buffers[0],
                          buffers[1], bias, weights, indices,
                          router.getRoutingAttr());
    bufferization::replaceOpWithBufferizedValues(rewriter, op,
                                                 {weights, indices});
    return success();
  }
};
} // namespace

void MoEDialect::attachBufferizationModels() {
  GroupedMatmulOp::attachInterface<GroupedMatmulBufferization>(*getContext());
  FusedRouterOp::attachInterface<FusedRouterBufferization>(*getContext());
}
