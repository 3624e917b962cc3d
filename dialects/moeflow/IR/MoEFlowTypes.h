//===- MoEFlowTypes.h - moeflow dialect types -------------------*- C++ -*-===//

#ifndef MOEFLOW_IR_MOEFLOWTYPES_H
#define MOEFLOW_IR_MOEFLOWTYPES_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/Types.h"

#define GET_TYPEDEF_CLASSES
#include "moeflow/IR/MoEFlowTypes.h.inc"

#endif // MOEFLOW_IR_MOEFLOWTYPES_H
