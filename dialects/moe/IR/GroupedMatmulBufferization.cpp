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
    SmallVector<Value> buffers;
    for (Value operand : op->getOperands()) {
      FailureOr<Value> buffer =
          bufferization::getBuffer(rewriter, operand, options, state);
      if (failed(buffer))
        return failure();
      buffers.push_back(*buffer);
    }
    Value gate = matmul.getGate() ? buffers[3] : Value();
    Value init = buffers.back();
    rewriter.setInsertionPoint(op);
    GroupedMatmulOp::create(rewriter, op->getLoc(), Type(), buffers[0],
                            buffers[1], buffers[2], gate, init,
                            matmul.getActivationAttr());
    bufferization::replaceOpWithBufferizedValues(rewriter, op, init);
    return success();
  }
};
} // namespace

void MoEDialect::attachBufferizationModels() {
  GroupedMatmulOp::attachInterface<GroupedMatmulBufferization>(*getContext());
}
