//===- MoEFlowOps.h - moeflow dialect operations ----------------*- C++ -*-===//

#ifndef MOEFLOW_IR_MOEFLOWOPS_H
#define MOEFLOW_IR_MOEFLOWOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/IR/MoEAttrs.h"
#include "moeflow/IR/MoEFlowAttrs.h"
#include "moeflow/IR/MoEFlowDialect.h"
#include "moeflow/IR/MoEFlowTypes.h"

namespace mlir::moeflow {

/// The resource started collectives and their waits write (MoEFlowOps.td).
struct CollectiveResource
    : public SideEffects::Resource::Base<CollectiveResource> {
  StringRef getName() final { return "moeflow.collectives"; }
};

/// Checks the group `group @grid axes [...]` of the collective `op`: `grid`
/// names a `shard.grid`, `axes` is non-empty and lists distinct axes of it.
/// Returns the group size (the product of the listed axes' sizes), or
/// `ShapedType::kDynamic` when one of them is dynamic; emits an error on `op`
/// and returns failure when the group is malformed.
FailureOr<int64_t> verifyGroup(Operation *op, FlatSymbolRefAttr grid,
                               ArrayRef<int16_t> axes,
                               SymbolTableCollection &symbolTable);

} // namespace mlir::moeflow

#define GET_OP_CLASSES
#include "moeflow/IR/MoEFlowOps.h.inc"

#endif // MOEFLOW_IR_MOEFLOWOPS_H
