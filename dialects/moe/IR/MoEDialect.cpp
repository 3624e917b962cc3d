//===- MoEDialect.cpp - The moe dialect -----------------------------------===//

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"

#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::moe;

#include "moe/IR/MoEDialect.cpp.inc"

void MoEDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "moe/IR/MoEOps.cpp.inc"
      >();
  attachBufferizationModels();
}

/// `moe.expert_permutation = array<i64: ...>` (docs/multi-rank.md §2, set by
/// moe-place-experts): on a moe.layer or moe.experts, a permutation of its
/// routed experts [0, E).
static LogicalResult verifyExpertPermutation(Operation *op, Attribute value) {
  constexpr StringLiteral name = "moe.expert_permutation";
  auto perm = dyn_cast<DenseI64ArrayAttr>(value);
  if (!perm)
    return op->emitError() << "'" << name << "' must be an array<i64: ...>";
  Value up;
  if (auto layer = dyn_cast<LayerOp>(op))
    up = layer.getUpWeight();
  else if (auto experts = dyn_cast<ExpertsOp>(op))
    up = experts.getUpWeight();
  else
    return op->emitError() << "'" << name
                           << "' may only be attached to a moe.layer or a "
                              "moe.experts";
  int64_t count = cast<RankedTensorType>(up.getType()).getDimSize(0);
  if (!ShapedType::isDynamic(count) && perm.size() != count)
    return op->emitError() << "'" << name << "' has " << perm.size()
                           << " entries, expected " << count
                           << " (the routed experts)";
  SmallVector<bool> seen(perm.size(), false);
  for (int64_t expert : perm.asArrayRef()) {
    if (expert < 0 || expert >= perm.size())
      return op->emitError() << "'" << name << "' entry " << expert
                             << " is out of range [0, " << perm.size() << ")";
    if (seen[expert])
      return op->emitError() << "'" << name << "' lists expert " << expert
                             << " twice";
    seen[expert] = true;
  }
  return success();
}

LogicalResult MoEDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  if (attr.getName() == "moe.expert_permutation")
    return verifyExpertPermutation(op, attr.getValue());
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

/// The per-rank attributes moe-shard puts on function arguments and results
/// (docs/multi-rank.md §2): `moe.split_axes = [array<i16: ...>, ...]`, one
/// ascending list of grid axes per dimension of `type` (when it is a tensor or
/// memref), and
/// `moe.expert_permutation = array<i64: ...>`, a permutation of the full
/// dimension 0, of which the local type holds one block.
static std::optional<LogicalResult>
verifyShardAttribute(Operation *op, Type type, NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  // Tensors, and memrefs once bufferized.
  auto tensor = dyn_cast<ShapedType>(type);
  if (tensor && !tensor.hasRank())
    tensor = nullptr;
  if (name == "moe.split_axes") {
    auto entries = dyn_cast<ArrayAttr>(attr.getValue());
    // Past bufferization and LLVM lowering only the form is checked.
    if (!entries ||
        (tensor && entries.size() != size_t(tensor.getRank())) ||
        !llvm::all_of(entries, [](Attribute entry) {
          auto axes = dyn_cast<DenseI16ArrayAttr>(entry);
          if (!axes)
            return false;
          int16_t previous = -1;
          for (int16_t axis : axes.asArrayRef()) {
            if (axis <= previous)
              return false;
            previous = axis;
          }
          return true;
        }))
      return op->emitError()
             << "'moe.split_axes' must hold one ascending array<i16> of grid "
                "axes per dimension of a ranked tensor or memref, got "
             << attr.getValue() << " for " << type;
    return success();
  }
  if (name == "moe.expert_permutation") {
    auto perm = dyn_cast<DenseI64ArrayAttr>(attr.getValue());
    // The argument holds one block of the permuted full dimension 0.
    bool valid = perm && (!tensor || tensor.getRank() >= 1) &&
                 (!tensor || tensor.isDynamicDim(0) ||
                  (tensor.getDimSize(0) > 0 &&
                   perm.size() % tensor.getDimSize(0) == 0));
    SmallVector<bool> seen(valid ? perm.size() : 0, false);
    for (int64_t expert : valid ? perm.asArrayRef() : ArrayRef<int64_t>()) {
      valid = expert >= 0 && expert < perm.size() && !seen[expert];
      if (!valid)
        break;
      seen[expert] = true;
    }
    if (!valid)
      return op->emitError()
             << "'moe.expert_permutation' of a function argument or result "
                "must be a permutation of its full dimension 0 (a multiple of "
                "the local one), got "
             << attr.getValue() << " for " << type;
    return success();
  }
  return std::nullopt;
}

LogicalResult MoEDialect::verifyRegionResultAttribute(Operation *op,
                                                      unsigned regionIndex,
                                                      unsigned resultIndex,
                                                      NamedAttribute attr) {
  auto function = dyn_cast<FunctionOpInterface>(op);
  if (function && resultIndex < function.getNumResults())
    if (std::optional<LogicalResult> result = verifyShardAttribute(
            op, function.getResultTypes()[resultIndex], attr))
      return *result;
  return op->emitError() << "unknown moe dialect result attribute '"
                         << attr.getName().getValue() << "'";
}

/// `moe.tier = #moe.tier<...>` on a function argument (written by
/// moe-plan-tiers): the memory tier the argument lives in. A host-tier
/// argument is a weight copied up by `moeflow.prefetch`, so it must be a
/// buffer: a ranked tensor, or the memref it bufferizes to. Types of other
/// dialects (the pointers of LLVM lowering) are past what this checks.
static LogicalResult verifyTierAttribute(Operation *op, Type type,
                                         NamedAttribute attr) {
  auto tier = dyn_cast<TierAttr>(attr.getValue());
  if (!tier)
    return op->emitError() << "'moe.tier' must be a #moe.tier attribute, got "
                           << attr.getValue();
  bool isBuffer = isa<RankedTensorType, MemRefType>(type) ||
                  !isa<BuiltinDialect>(type.getDialect());
  if (tier.getTier() == MemoryTier::host && !isBuffer)
    return op->emitError() << "'moe.tier' = " << tier
                           << " is only allowed on a ranked tensor argument, "
                              "got "
                           << type;
  return success();
}

LogicalResult MoEDialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned regionIndex,
                                                   unsigned argIndex,
                                                   NamedAttribute attr) {
  auto function = dyn_cast<FunctionOpInterface>(op);
  if (function && argIndex < function.getNumArguments()) {
    Type type = function.getArgumentTypes()[argIndex];
    if (std::optional<LogicalResult> result =
            verifyShardAttribute(op, type, attr))
      return *result;
    if (attr.getName() == getTierAttrName())
      return verifyTierAttribute(op, type, attr);
  }
  if (attr.getName() != getInputAttrName())
    return op->emitError() << "unknown moe dialect argument attribute '"
                           << attr.getName().getValue() << "'";
  auto name = dyn_cast<StringAttr>(attr.getValue());
  if (!name || name.getValue().empty())
    return op->emitError() << "'" << getInputAttrName() << "' of argument "
                           << argIndex << " must be a non-empty string";
  return success();
}
