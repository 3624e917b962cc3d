//===- MoEFlowAttrs.cpp - moeflow dialect enums and attributes ------------===//

#include "moeflow/IR/MoEFlowAttrs.h"
#include "moeflow/IR/MoEFlowDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::moeflow;

#include "moeflow/IR/MoEFlowEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "moeflow/IR/MoEFlowAttrs.cpp.inc"

void MoEFlowDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moeflow/IR/MoEFlowAttrs.cpp.inc"
      >();
}
