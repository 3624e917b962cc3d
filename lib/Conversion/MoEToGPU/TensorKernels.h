//===- TensorKernels.h - gpu.launch kernels built on tensors ----*- C++ -*-===//
//
// convert-moe-router-to-gpu and convert-moe-combine-to-gpu replace an op on
// tensors by a gpu.launch before bufferization: the kernel reads
// `bufferization.to_buffer read_only` of its operands and writes
// `memref.alloc` buffers that `bufferization.to_tensor restrict writable`
// returns, so one-shot bufferization and moe-map-loops-to-gpu take the
// kernel as they take the others. These are the pieces both share.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_TENSORKERNELS_H
#define MOE_LIB_CONVERSION_MOETOGPU_TENSORKERNELS_H

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {

/// The buffer a kernel reads `tensor` from (identity layout; read only).
inline Value readOnlyBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  return bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
      /*read_only=*/true);
}

/// The result tensor of `type` that a kernel wrote into `buffer`, a fresh
/// allocation nothing else aliases.
inline Value writtenTensor(OpBuilder &b, Location loc, RankedTensorType type,
                           Value buffer) {
  return bufferization::ToTensorOp::create(b, loc, type, buffer,
                                           /*restrict=*/true,
                                           /*writable=*/true);
}

/// Applies the kernel patterns of such a pass to `root`. Region
/// simplification is off: only the matched ops change, and the kernels hold
/// no other pattern's root.
inline LogicalResult applyKernelPatterns(Operation *root,
                                         RewritePatternSet &&patterns) {
  GreedyRewriteConfig config;
  config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
  return applyPatternsGreedily(root, std::move(patterns), config);
}

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOGPU_TENSORKERNELS_H
