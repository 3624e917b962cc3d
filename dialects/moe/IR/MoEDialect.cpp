//===- MoEDialect.cpp - The moe dialect -----------------------------------===//

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"

#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace mlir::moe;

#include "moe/IR/MoEDialect.cpp.inc"

void MoEDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "moe/IR/MoEOps.cpp.inc"
      >();
}

LogicalResult MoEDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  if (attr.getName() == getIndependentIterationsAttrName()) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitError() << "'" << getIndependentIterationsAttrName()
                             << "' must be a unit attribute";
    if (op->getName().getStringRef() != "scf.for")
      return op->emitError() << "'" << getIndependentIterationsAttrName()
                             << "' may only be attached to an scf.for";
    return success();
  }
  if (attr.getName() != getParallelAttrName())
    return op->emitError() << "unknown moe dialect attribute '"
                           << attr.getName().getValue() << "'";
  if (!isa<ParallelAttr>(attr.getValue()))
    return op->emitError() << "'" << getParallelAttrName()
                           << "' must be a #moe.parallel attribute";
  if (!isa<ModuleOp>(op))
    return op->emitError() << "'" << getParallelAttrName()
                           << "' may only be attached to a module";
  return success();
}

LogicalResult MoEDialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned regionIndex,
                                                   unsigned argIndex,
                                                   NamedAttribute attr) {
  if (attr.getName() != getInputAttrName())
    return op->emitError() << "unknown moe dialect argument attribute '"
                           << attr.getName().getValue() << "'";
  auto name = dyn_cast<StringAttr>(attr.getValue());
  if (!name || name.getValue().empty())
    return op->emitError() << "'" << getInputAttrName() << "' of argument "
                           << argIndex << " must be a non-empty string";
  return success();
}
