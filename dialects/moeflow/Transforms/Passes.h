//===- Passes.h - moeflow dialect passes ------------------------*- C++ -*-===//

#ifndef MOEFLOW_TRANSFORMS_PASSES_H
#define MOEFLOW_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Pass/Pass.h"

namespace mlir::moeflow {

#define GEN_PASS_DECL
#include "moeflow/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moeflow/Transforms/Passes.h.inc"

} // namespace mlir::moeflow

#endif // MOEFLOW_TRANSFORMS_PASSES_H
