//===- GroupedMatmulBufferization.cpp - moe.grouped_matmul on buffers -----===//
//
// One-shot bufferization of moe.grouped_matmul: destination style, so the
// result is the `init` buffer written in place; every operand is read (rows
// outside the experts keep `init`).
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
} // namespace

void MoEDialect::attachBufferizationModels() {
  GroupedMatmulOp::attachInterface<GroupedMatmulBufferization>(*getContext());
}
