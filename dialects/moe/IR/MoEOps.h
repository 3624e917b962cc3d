//===- MoEOps.h - moe dialect operations ------------------------*- C++ -*-===//

#ifndef MOE_IR_MOEOPS_H
#define MOE_IR_MOEOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/IR/MoEAttrs.h"
#include "moe/IR/MoEDialect.h"

#define GET_OP_CLASSES
#include "moe/IR/MoEOps.h.inc"

#endif // MOE_IR_MOEOPS_H
