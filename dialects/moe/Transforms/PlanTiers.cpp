//===- PlanTiers.cpp - moe-plan-tiers -------------------------------------===//
//
// Memory-tier planning for weights that do not fit in HBM (issue #9): per
// function, the leading weight groups stay in HBM and the rest live in host
// memory and are prefetched `lookahead` groups ahead of their use, under a
// byte budget. The model (groups, pinning, staging) is documented in
// Passes.td; the prefetches are lowered by convert-moeflow-to-runtime.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"
#include "moeflow/IR/MoEFlowDialect.h"
#include "moeflow/IR/MoEFlowOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

namespace mlir::moe {
#define GEN_PASS_DEF_MOEPLANTIERS
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

/// Byte counts saturate at int64 max: a size that large never fits any
/// budget, which the budget error then reports.
static int64_t addBytes(int64_t a, int64_t b) {
  int64_t sum;
  if (llvm::AddOverflow(a, b, sum))
    return std::numeric_limits<int64_t>::max();
  return sum;
}

namespace {

/// One moe op of the entry block with weight arguments that may be streamed.
struct Group {
  Operation *op;
  /// Its unpinned weight arguments, in operand order, each once.
  SmallVector<BlockArgument> args;
  int64_t bytes = 0;
  /// `weights_tier = #moe.tier<host>`: streamed whatever the budget.
  bool forcedHost = false;
};

/// The outcome of the budget search for one function.
struct Plan {
  /// Per group: resident (false) or streamed (true).
  SmallVector<bool> streamed;
  int64_t residentBytes = 0, streamedBytes = 0, stagingBytes = 0;
};

/// What a streamed moe.layer's expert weights copy (`expert-fetch`).
enum class ExpertFetch { all, routed, predicted };

struct MoEPlanTiersPass
    : mlir::moe::impl::MoEPlanTiersBase<MoEPlanTiersPass> {
  using MoEPlanTiersBase::MoEPlanTiersBase;
  void runOnOperation() override;

private:
  LogicalResult planFunction(func::FuncOp function);
  void prefetch(Group &group, Operation *placement, TierAttr host,
                TierAttr hbm);
  ExpertFetch fetch = ExpertFetch::all;
  int64_t staging(ArrayRef<Group> groups, ArrayRef<bool> streamed) const;
};

} // namespace

/// Whether `use` is a weight operand of a moe op: every operand of the ops
/// that take weights except their activations (tokens, rows and offsets,
/// logits).
static bool isWeightOperand(OpOperand &use) {
  unsigned number = use.getOperandNumber();
  return llvm::TypeSwitch<Operation *, bool>(use.getOwner())
      .Case<LayerOp, ChainOp, SharedExpertsOp>([&](auto op) {
        return number != op.getTokensMutable().getOperandNumber();
      })
      .Case([&](ExpertsOp op) {
        return number != op.getRowsMutable().getOperandNumber() &&
               number != op.getOffsetsMutable().getOperandNumber();
      })
      .Case([&](RouterOp op) {
        return number != op.getLogitsMutable().getOperandNumber();
      })
      .Default(false);
}

/// Whether `use` is one of `operands` (of its owner).
static bool isAmong(OpOperand &use, ArrayRef<MutableOperandRange> operands) {
  return llvm::any_of(operands, [&](MutableOperandRange range) {
    return llvm::is_contained(llvm::map_range(range, [](OpOperand &operand) {
                                return &operand;
                              }),
                              &use);
  });
}

/// Whether `use` is the router weight or bias of a moe.layer: what the
/// prediction of its routing reads ahead of it (`expert-fetch=predicted`).
static bool isLayerRouterOperand(OpOperand &use) {
  auto layer = dyn_cast<LayerOp>(use.getOwner());
  return layer && isAmong(use, {layer.getRouterWeightMutable(),
                                layer.getBiasMutable()});
}

/// Whether `use` is a gate, up or down expert weight of a moe.layer: what
/// an expert fetch can split by expert.
static bool isLayerExpertOperand(OpOperand &use) {
  auto layer = dyn_cast<LayerOp>(use.getOwner());
  return layer && isAmong(use, {layer.getGateWeightMutable(),
                                layer.getUpWeightMutable(),
                                layer.getDownWeightMutable()});
}

/// The tokens of `op` when it has some (the activations at its start).
static Value tokensOf(Operation *op) {
  return llvm::TypeSwitch<Operation *, Value>(op)
      .Case<LayerOp, ChainOp, SharedExpertsOp>(
          [](auto typed) { return typed.getTokens(); })
      .Default(Value());
}

/// The tier a moe op asks for its weights (`weights_tier` of moe.layer).
static std::optional<MemoryTier> requestedTier(Operation *op) {
  if (auto layer = dyn_cast<LayerOp>(op))
    if (TierAttr tier = layer.getWeightsTierAttr())
      return tier.getTier();
  return std::nullopt;
}

/// "0, 2, 3": the indices of the groups whose `streamed` flag is `which`.
static std::string listGroups(ArrayRef<bool> streamed, bool which) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::ListSeparator separator;
  for (auto [index, isStreamed] : llvm::enumerate(streamed))
    if (isStreamed == which)
      os << separator << index;
  return text.empty() ? "none" : text;
}

/// The most bytes of streamed weights in HBM at once: the copy of streamed
/// group j is issued `lookahead` groups before it and released after it, so
/// at most `lookahead + 1` consecutive streamed groups are resident together.
/// Windows over streamed groups only (rather than over all groups) bound that
/// from above whatever resident groups lie between them.
int64_t MoEPlanTiersPass::staging(ArrayRef<Group> groups,
                                  ArrayRef<bool> streamed) const {
  SmallVector<int64_t> bytes;
  for (auto [group, isStreamed] : llvm::zip_equal(groups, streamed))
    if (isStreamed)
      bytes.push_back(group.bytes);
  size_t window = static_cast<size_t>(lookahead) + 1;
  int64_t best = 0;
  for (size_t first = 0; first < bytes.size(); ++first) {
    int64_t sum = 0;
    for (size_t i = first; i < std::min(bytes.size(), first + window); ++i)
      sum = addBytes(sum, bytes[i]);
    best = std::max(best, sum);
    if (first + window >= bytes.size())
      break;
  }
  return best;
}

LogicalResult MoEPlanTiersPass::planFunction(func::FuncOp function) {
  StringRef name = function.getSymName();
  Block &entry = function.getBody().front();

  // A plan already written (by this pass or by hand) is kept as it is.
  for (unsigned i = 0, e = function.getNumArguments(); i < e; ++i)
    if (function.getArgAttr(i, MoEDialect::getTierAttrName())) {
      if (explain)
        function.emitRemark()
            << "moe-plan-tiers: '@" << name << "' already has '"
            << MoEDialect::getTierAttrName()
            << "' argument attributes; left unchanged";
      return success();
    }

  // Weight arguments: their bytes (-1: not a weight) and whether they are
  // pinned in HBM, by argument number.
  unsigned numArgs = entry.getNumArguments();
  SmallVector<int64_t> weightBytes(numArgs, -1);
  SmallVector<bool> pinned(numArgs, false);
  int64_t totalBytes = 0, pinnedBytes = 0;
  for (BlockArgument arg : entry.getArguments()) {
    bool isWeight = false, otherUse = false;
    llvm::SmallPtrSet<Operation *, 2> weightOps;
    for (OpOperand &use : arg.getUses()) {
      if (!isWeightOperand(use)) {
        otherUse = true;
        continue;
      }
      isWeight = true;
      // Only top-level ops of the entry block have a place in the program
      // order the prefetches follow.
      if (use.getOwner()->getBlock() != &entry)
        otherUse = true;
      else
        weightOps.insert(use.getOwner());
    }
    if (!isWeight)
      continue;
    auto type = cast<RankedTensorType>(arg.getType());
    if (!type.hasStaticShape())
      return function.emitError()
             << "moe-plan-tiers needs the size of every weight: argument "
             << arg.getArgNumber() << " of '@" << name
             << "' has the dynamic shape " << type;
    int64_t bytes = (type.getElementTypeBitWidth() + 7) / 8;
    for (int64_t dim : type.getShape())
      if (llvm::MulOverflow(bytes, dim, bytes))
        bytes = std::numeric_limits<int64_t>::max();
    weightBytes[arg.getArgNumber()] = bytes;
    totalBytes = addBytes(totalBytes, bytes);
    // Shared weights serve several groups, so streaming them for one would
    // evict them from another; other users read them outside the plan; and
    // an op may ask for HBM (or SRAM) itself.
    bool asksResident = llvm::any_of(weightOps, [](Operation *op) {
      std::optional<MemoryTier> tier = requestedTier(op);
      return tier && *tier != MemoryTier::host;
    });
    // A prediction reads a layer's router weight ahead of the layer, at
    // the copy of its experts.
    bool predictionReads =
        fetch == ExpertFetch::predicted &&
        llvm::any_of(arg.getUses(), isLayerRouterOperand);
    if (otherUse || weightOps.size() > 1 || asksResident ||
        predictionReads) {
      pinned[arg.getArgNumber()] = true;
      pinnedBytes = addBytes(pinnedBytes, bytes);
    }
  }
  if (llvm::all_of(weightBytes, [](int64_t bytes) { return bytes < 0; }))
    return success();

  // Groups, in program order.
  SmallVector<Group> groups;
  for (Operation &op : entry) {
    Group group{&op, {}, 0, requestedTier(&op) == MemoryTier::host};
    llvm::SetVector<BlockArgument> args;
    for (OpOperand &use : op.getOpOperands()) {
      auto arg = dyn_cast<BlockArgument>(use.get());
      if (arg && arg.getOwner() == &entry && isWeightOperand(use) &&
          !pinned[arg.getArgNumber()])
        args.insert(arg);
    }
    if (args.empty())
      continue;
    group.args.assign(args.begin(), args.end());
    for (BlockArgument arg : group.args)
      group.bytes = addBytes(group.bytes, weightBytes[arg.getArgNumber()]);
    groups.push_back(std::move(group));
  }

  bool anyForced = llvm::any_of(groups, [](const Group &g) {
    return g.forcedHost;
  });
  if (totalBytes <= hbmBytes && !anyForced) {
    if (explain)
      function.emitRemark()
          << "moe-plan-tiers: all " << totalBytes << " bytes of weights of '@"
          << name << "' fit in hbm-bytes " << int64_t(hbmBytes)
          << "; nothing streamed";
    return success();
  }

  // The largest resident prefix of non-forced groups that fits. Resident
  // plus staging bytes never decrease as the prefix grows (keeping a group
  // resident adds its bytes and lowers the staging by at most as much), so
  // the first fit from the top is the largest, and k = 0 is the least need.
  auto planFor = [&](size_t keep) {
    Plan plan;
    plan.residentBytes = pinnedBytes;
    size_t kept = 0;
    for (const Group &group : groups) {
      bool resident = !group.forcedHost && kept < keep;
      if (!group.forcedHost)
        ++kept;
      plan.streamed.push_back(!resident);
      if (resident)
        plan.residentBytes = addBytes(plan.residentBytes, group.bytes);
      else
        plan.streamedBytes = addBytes(plan.streamedBytes, group.bytes);
    }
    plan.stagingBytes = staging(groups, plan.streamed);
    return plan;
  };
  size_t nonForced = llvm::count_if(groups, [](const Group &g) {
    return !g.forcedHost;
  });
  std::optional<Plan> chosen;
  for (size_t keep = nonForced + 1; keep-- > 0;) {
    Plan plan = planFor(keep);
    if (addBytes(plan.residentBytes, plan.stagingBytes) <= hbmBytes) {
      chosen = std::move(plan);
      break;
    }
  }
  if (!chosen) {
    Plan least = planFor(0);
    return function.emitError()
           << "the expert weights of '@" << name << "' need at least "
           << addBytes(least.residentBytes, least.stagingBytes)
           << " bytes of HBM to stream with lookahead " << int64_t(lookahead)
           << " (" << least.stagingBytes << " bytes for the largest "
           << int64_t(lookahead) + 1 << " consecutive streamed groups, plus "
           << least.residentBytes
           << " bytes that must stay resident); --moe-plan-tiers hbm-bytes is "
           << int64_t(hbmBytes);
  }

  // The copies: G_j's before the op of G_{j - lookahead}, so that it is in
  // flight while the groups in between compute; before the whole body for
  // the first ones.
  MLIRContext *context = function.getContext();
  auto host = TierAttr::get(context, MemoryTier::host);
  auto hbm = TierAttr::get(context, MemoryTier::hbm);
  // Taken before the first copy goes in front of it, so that the copies
  // issued at the start keep group order.
  Operation *bodyStart = &entry.front();
  for (auto [index, group] : llvm::enumerate(groups)) {
    if (!chosen->streamed[index])
      continue;
    int64_t ahead = static_cast<int64_t>(index) - lookahead;
    for (BlockArgument arg : group.args)
      function.setArgAttr(arg.getArgNumber(), MoEDialect::getTierAttrName(),
                          host);
    prefetch(group, ahead < 0 ? bodyStart : groups[ahead].op, host, hbm);
  }

  if (explain)
    function.emitRemark()
        << "moe-plan-tiers: '@" << name << "' with hbm-bytes "
        << int64_t(hbmBytes) << " and lookahead " << int64_t(lookahead)
        << ": resident groups " << listGroups(chosen->streamed, false) << " ("
        << chosen->residentBytes << " bytes, " << pinnedBytes
        << " of them pinned); streamed groups "
        << listGroups(chosen->streamed, true) << " (" << chosen->streamedBytes
        << " bytes); staging " << chosen->stagingBytes << " bytes";
  return success();
}

/// The copies of streamed `group`, placed before `placement`: whole
/// prefetches, or for the expert weights of a moe.layer under
/// `expert-fetch=routed|predicted`, prefetch_experts (which moe-decompose
/// completes with the layer's routing). A prediction is the layer's router
/// on the tokens of `placement`, computed there.
void MoEPlanTiersPass::prefetch(Group &group, Operation *placement,
                                TierAttr host, TierAttr hbm) {
  OpBuilder builder(placement);
  Location loc = group.op->getLoc();
  auto layer = dyn_cast<LayerOp>(group.op);
  auto byExpert = [&](BlockArgument arg) {
    return layer && fetch != ExpertFetch::all &&
           llvm::all_of(arg.getUses(), [&](OpOperand &use) {
             return use.getOwner() != group.op || isLayerExpertOperand(use);
           });
  };
  // The prediction, built only when an expert weight is copied by expert.
  Value predicted;
  if (fetch == ExpertFetch::predicted && placement != group.op &&
      llvm::any_of(group.args, byExpert)) {
    Value tokens = tokensOf(placement);
    auto isArgument = [](Value value) {
      return !value || isa<BlockArgument>(value);
    };
    // The router weight and bias are pinned arguments, so they are
    // available at any placement.
    if (tokens && tokens.getType() == layer.getTokens().getType() &&
        isArgument(layer.getRouterWeight()) && isArgument(layer.getBias())) {
      Value logits = buildRouterLogits(builder, loc, tokens,
                                       layer.getRouterWeight(),
                                       layer.getLayout());
      auto slots = [&](Type element) {
        return RankedTensorType::get(
            {cast<RankedTensorType>(tokens.getType()).getDimSize(0),
             layer.getRouting().getTopK()},
            element);
      };
      predicted = RouterOp::create(builder, loc, slots(builder.getF32Type()),
                                   slots(builder.getI32Type()), logits,
                                   layer.getBias(), layer.getRouting())
                      .getIndices();
    }
  }
  for (BlockArgument arg : group.args) {
    Value copy =
        byExpert(arg) ? moeflow::PrefetchExpertsOp::create(
                            builder, loc, arg.getType(), arg, predicted, host,
                            hbm)
                            .getResult()
                      : moeflow::PrefetchOp::create(builder, loc, arg, host,
                                                    hbm)
                            .getResult();
    group.op->replaceUsesOfWith(arg, copy);
  }
}

void MoEPlanTiersPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (expertFetch == "all")
    fetch = ExpertFetch::all;
  else if (expertFetch == "routed")
    fetch = ExpertFetch::routed;
  else if (expertFetch == "predicted")
    fetch = ExpertFetch::predicted;
  else {
    module.emitError() << "moe-plan-tiers option expert-fetch must be all, "
                          "routed or predicted, got '"
                       << expertFetch << "'";
    return signalPassFailure();
  }
  if (hbmBytes <= 0) {
    module.emitError() << "moe-plan-tiers option hbm-bytes is required and "
                          "must be positive (the HBM bytes for weights), got "
                       << int64_t(hbmBytes);
    return signalPassFailure();
  }
  if (lookahead < 1) {
    module.emitError() << "moe-plan-tiers option lookahead must be at least "
                          "1, got "
                       << int64_t(lookahead);
    return signalPassFailure();
  }
  bool failedAny = false;
  module.walk([&](func::FuncOp function) {
    if (!function.isPublic() || function.isExternal())
      return;
    if (failed(planFunction(function)))
      failedAny = true;
  });
  if (failedAny)
    signalPassFailure();
}
