//===- MoEFlowDialect.h - The moeflow dialect -------------------*- C++ -*-===//

#ifndef MOEFLOW_IR_MOEFLOWDIALECT_H
#define MOEFLOW_IR_MOEFLOWDIALECT_H

#include "moe/IR/MoEDialect.h"

#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "moeflow/IR/MoEFlowDialect.h.inc"

#endif // MOEFLOW_IR_MOEFLOWDIALECT_H
