//===- MoEFlowAttrs.h - moeflow dialect enums and attributes ----*- C++ -*-===//

#ifndef MOEFLOW_IR_MOEFLOWATTRS_H
#define MOEFLOW_IR_MOEFLOWATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "moeflow/IR/MoEFlowEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "moeflow/IR/MoEFlowAttrs.h.inc"

#endif // MOEFLOW_IR_MOEFLOWATTRS_H
