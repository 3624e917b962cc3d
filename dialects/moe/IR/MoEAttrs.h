//===- MoEAttrs.h - moe dialect enums and attributes ------------*- C++ -*-===//

#ifndef MOE_IR_MOEATTRS_H
#define MOE_IR_MOEATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectImplementation.h"

#include "moe/IR/MoEEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/IR/MoEAttrs.h.inc"

#endif // MOE_IR_MOEATTRS_H
