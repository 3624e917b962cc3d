//===- MoEFlowTypes.cpp - moeflow dialect types ---------------------------===//

#include "moeflow/IR/MoEFlowTypes.h"
#include "moeflow/IR/MoEFlowDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::moeflow;

#define GET_TYPEDEF_CLASSES
#include "moeflow/IR/MoEFlowTypes.cpp.inc"

void MoEFlowDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "moeflow/IR/MoEFlowTypes.cpp.inc"
      >();
}
