//===- InitAllDialects.h - register every MoE-MLIR dialect ------*- C++ -*-===//

#ifndef MOE_INITALLDIALECTS_H
#define MOE_INITALLDIALECTS_H

#include "moe/IR/MoEDialect.h"
#include "moeflow/IR/MoEFlowDialect.h"

#include "mlir/IR/DialectRegistry.h"

namespace mlir::moe {

/// Adds the project's own dialects to `registry` (hosts add upstream ones).
inline void registerAllDialects(DialectRegistry &registry) {
  registry.insert<MoEDialect, moeflow::MoEFlowDialect>();
}

} // namespace mlir::moe

#endif // MOE_INITALLDIALECTS_H
