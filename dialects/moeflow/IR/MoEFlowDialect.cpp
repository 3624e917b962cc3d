//===- MoEFlowDialect.cpp - The moeflow dialect ---------------------------===//

#include "moeflow/IR/MoEFlowDialect.h"
#include "moeflow/IR/MoEFlowOps.h"

using namespace mlir;
using namespace mlir::moeflow;

#include "moeflow/IR/MoEFlowDialect.cpp.inc"

void MoEFlowDialect::initialize() {
  registerAttributes();
  registerTypes();
  addOperations<
#define GET_OP_LIST
#include "moeflow/IR/MoEFlowOps.cpp.inc"
      >();
}
