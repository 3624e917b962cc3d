//===- MoEOps.cpp - moe dialect operations and their verifiers ------------===//
//
// Every verifier message here has a case in test/Dialect/MoE/invalid.mlir.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEOps.h"
#include "moe/IR/MoEShapes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

static ArrayRef<int64_t> shapeOf(Value value) {
  return cast<ShapedType>(value.getType()).getShape();
}

static Type elementTypeOf(Value value) {
  return cast<ShapedType>(value.getType()).getElementType();
}

static bool isStatic(int64_t dim) { return !ShapedType::isDynamic(dim); }

namespace {
/// Collects the checks of one op so that each reads as one line.
struct ShapeChecker {
  Operation *op;

  LogicalResult rank(Value value, StringRef name, int64_t rank,
                     StringRef shapeHint) {
    int64_t actual = shapeOf(value).size();
    if (actual == rank)
      return success();
    return op->emitOpError() << "'" << name << "' must have rank " << rank
                             << " (" << shapeHint << "), got " << actual;
  }

  /// Checks dimension `dim` of `value` against `expected` (skipped when either
  /// is dynamic); `what` says where `expected` comes from.
  LogicalResult dim(Value value, StringRef name, unsigned dim,
                    int64_t expected, StringRef what) {
    int64_t actual = shapeOf(value)[dim];
    if (!isStatic(actual) || !isStatic(expected) || actual == expected)
      return success();
    return op->emitOpError() << "'" << name << "' dimension " << dim << " is "
                             << actual << ", expected " << expected << " ("
                             << what << ")";
  }

  LogicalResult sameElementType(Value value, StringRef name, Value reference,
                                StringRef referenceName) {
    if (elementTypeOf(value) == elementTypeOf(reference))
      return success();
    return op->emitOpError()
           << "'" << name << "' element type " << elementTypeOf(value)
           << " differs from the element type " << elementTypeOf(reference)
           << " of '" << referenceName << "'";
  }
};
} // namespace

/// Verifies the weights of an FFN (per expert when `perExpert`) for hidden size
/// `hidden` and element type of `tokens`. Sets `numExperts` (per expert only)
/// and `intermediate` from the weights. Operand names in messages start with
/// `prefix` (`shared_` for a block's shared expert).
static LogicalResult verifyFFNWeights(ShapeChecker &check, Value tokens,
                                      int64_t hidden, Value gate, Value up,
                                      Value down, WeightLayout layout,
                                      bool perExpert, int64_t &numExperts,
                                      int64_t &intermediate,
                                      StringRef prefix = "") {
  std::string gateName = (prefix + "gate_weight").str();
  std::string upName = (prefix + "up_weight").str();
  std::string downName = (prefix + "down_weight").str();
  unsigned lead = perExpert ? 1 : 0;
  bool inOut = layout == WeightLayout::in_out;
  StringRef upHint = perExpert ? (inOut ? "[E, H, F]" : "[E, F, H]")
                               : (inOut ? "[H, F]" : "[F, H]");
  StringRef downHint = perExpert ? (inOut ? "[E, F, H]" : "[E, H, F]")
                                 : (inOut ? "[F, H]" : "[H, F]");
  if (failed(check.rank(up, upName, lead + 2, upHint)) ||
      failed(check.rank(down, downName, lead + 2, downHint)))
    return failure();
  unsigned hDim = inOut ? lead : lead + 1, fDim = inOut ? lead + 1 : lead;
  ArrayRef<int64_t> upShape = shapeOf(up);
  numExperts = perExpert ? upShape[0] : 1;
  intermediate = upShape[fDim];
  if (failed(check.dim(up, upName, hDim, hidden, "the hidden size")) ||
      failed(check.sameElementType(up, upName, tokens, "tokens")) ||
      failed(check.sameElementType(down, downName, tokens, "tokens")))
    return failure();
  // down maps F back to H: its H and F sit where up's F and H are.
  if (perExpert && failed(check.dim(down, downName, 0, numExperts,
                                    "the experts of the up weight")))
    return failure();
  if (failed(check.dim(down, downName, fDim, hidden, "the hidden size")) ||
      failed(check.dim(down, downName, hDim, intermediate,
                       "the intermediate size of the up weight")))
    return failure();
  if (gate && gate.getType() != up.getType())
    return check.op->emitOpError()
           << "'" << gateName << "' type " << gate.getType()
           << " differs from '" << upName << "' type " << up.getType();
  return success();
}

/// Verifies capacity mode attributes: both or neither.
static LogicalResult verifyCapacity(Operation *op,
                                    std::optional<uint64_t> capacity,
                                    std::optional<DropPolicy> policy) {
  if (capacity && !policy)
    return op->emitOpError()
           << "capacity mode needs a drop policy (`drop position|score`)";
  if (!capacity && policy)
    return op->emitOpError() << "a drop policy is given without a capacity";
  return success();
}

//===----------------------------------------------------------------------===//
// RouterOp
//===----------------------------------------------------------------------===//

LogicalResult RouterOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getLogits(), "logits", 2, "[T, E]")) ||
      failed(check.rank(getWeights(), "weights", 2, "[T, K]")) ||
      failed(check.rank(getIndices(), "indices", 2, "[T, K]")))
    return failure();
  int64_t tokens = shapeOf(getLogits())[0];
  int64_t experts = shapeOf(getLogits())[1];
  int64_t topK = getRouting().getTopK();
  for (auto [value, name] : {std::pair<Value, StringRef>{getWeights(), "weights"},
                             {getIndices(), "indices"}})
    if (failed(check.dim(value, name, 0, tokens, "the tokens of 'logits'")) ||
        failed(check.dim(value, name, 1, topK, "top_k")))
      return failure();
  if (Value bias = getBias())
    if (failed(check.rank(bias, "bias", 1, "[E]")) ||
        failed(check.dim(bias, "bias", 0, experts, "the experts of 'logits'")))
      return failure();
  if (!isStatic(experts))
    return success();
  return getRouting().verifyAgainst([&] { return emitOpError(); }, experts);
}

//===----------------------------------------------------------------------===//
// DispatchOp
//===----------------------------------------------------------------------===//

LogicalResult DispatchOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getTokens(), "tokens", 2, "[T, H]")) ||
      failed(check.rank(getIndices(), "indices", 2, "[T, K]")) ||
      failed(check.rank(getRows(), "rows", 2, "[R, H]")) ||
      failed(check.rank(getOffsets(), "offsets", 1, "[E + 1]")) ||
      failed(check.rank(getSources(), "sources", 1, "[R]")))
    return failure();
  if (failed(verifyCapacity(*this, getCapacity(), getDropPolicy())))
    return failure();
  bool byScore = getDropPolicy() == DropPolicy::score;
  if (byScore && !getWeights())
    return emitOpError() << "drop policy 'score' needs the routing weights "
                            "(`weights %w`)";
  if (!byScore && getWeights())
    return emitOpError() << "'weights' are only used by drop policy 'score'";
  int64_t tokens = shapeOf(getTokens())[0];
  int64_t hidden = shapeOf(getTokens())[1];
  int64_t topK = shapeOf(getIndices())[1];
  int64_t experts = getNumExperts();
  // The offsets hold E + 1 entries; E + 1 must itself be a valid dimension.
  if (experts >= std::numeric_limits<int64_t>::max() - 1)
    return emitOpError() << "num_experts (" << experts << ") is too large";
  if (failed(check.dim(getIndices(), "indices", 0, tokens,
                       "the tokens of 'tokens'")))
    return failure();
  if (Value weights = getWeights())
    if (weights.getType() != getIndices().getType().clone(
                                 elementTypeOf(weights)))
      return emitOpError() << "'weights' shape must match 'indices'";
  int64_t rows = dispatchRowBound(tokens, topK, experts, getCapacity());
  StringRef rowsWhat = getCapacity() ? "min(T*K, E*capacity)" : "T*K";
  if (failed(check.dim(getRows(), "rows", 0, rows, rowsWhat)) ||
      failed(check.dim(getRows(), "rows", 1, hidden, "the hidden size")) ||
      failed(check.sameElementType(getRows(), "rows", getTokens(), "tokens")) ||
      failed(check.dim(getOffsets(), "offsets", 0, experts + 1,
                       "num_experts + 1")) ||
      failed(check.dim(getSources(), "sources", 0, shapeOf(getRows())[0],
                       "the rows of 'rows'")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// ExpertsOp
//===----------------------------------------------------------------------===//

LogicalResult ExpertsOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getRows(), "rows", 2, "[R, H]")) ||
      failed(check.rank(getOffsets(), "offsets", 1, "[E + 1]")))
    return failure();
  int64_t experts, intermediate;
  if (failed(verifyFFNWeights(check, getRows(), shapeOf(getRows())[1],
                              getGateWeight(), getUpWeight(), getDownWeight(),
                              getLayout(), /*perExpert=*/true, experts,
                              intermediate)))
    return failure();
  if (failed(check.dim(getOffsets(), "offsets", 0,
                       isStatic(experts) ? experts + 1 : experts,
                       "the experts of the weights + 1")))
    return failure();
  if (getResult().getType() != getRows().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from 'rows' type " << getRows().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// GroupedMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult GroupedMatmulOp::verify() {
  ShapeChecker check{*this};
  Value rows = getRows(), weight = getWeight(), init = getInit();
  if (failed(check.rank(rows, "rows", 2, "[R, K]")) ||
      failed(check.rank(weight, "weight", 3, "[E, N, K]")) ||
      failed(check.rank(init, "init", 2, "[R, N]")))
    return failure();
  bool onTensors = isa<RankedTensorType>(rows.getType());
  for (Value operand : getOperation()->getOperands())
    if (isa<RankedTensorType>(operand.getType()) != onTensors)
      return emitOpError() << "operands must be all tensors or all memrefs";
  if (onTensors != (getResult() != nullptr))
    return emitOpError() << (onTensors ? "on tensors must have a result"
                                       : "on memrefs has no result");
  if (getResult() && getResult().getType() != init.getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from 'init' type " << init.getType();
  // Gathered rows: R is the size of `sources`, whose entries index `rows`
  // (the tokens) through the slots per token.
  Value sources = getSources();
  if (sources.operator bool() != getSlots().has_value())
    return emitOpError() << "'gather' needs both sources and slots";
  if (sources && failed(check.rank(sources, "sources", 1, "[R]")))
    return failure();
  ArrayRef<int64_t> weightShape = shapeOf(weight);
  int64_t rowCount = sources ? shapeOf(sources)[0] : shapeOf(rows)[0];
  if (failed(check.dim(rows, "rows", 1, weightShape[2],
                       "the reduction size K of 'weight'")) ||
      failed(check.dim(init, "init", 0, rowCount,
                       sources ? "the sources" : "the rows")) ||
      failed(check.dim(init, "init", 1, weightShape[1],
                       "the output size N of 'weight'")) ||
      failed(check.dim(getOffsets(), "offsets", 0,
                       isStatic(weightShape[0]) ? weightShape[0] + 1
                                                : ShapedType::kDynamic,
                       "the experts of 'weight' + 1")) ||
      failed(check.sameElementType(weight, "weight", rows, "rows")))
    return failure();
  // An f32 output keeps the f32 accumulators as they are (router logits feed
  // an f32 softmax); any other output type is the operands' own.
  Type initElement = elementTypeOf(init), rowsElement = elementTypeOf(rows);
  if (initElement != rowsElement && !initElement.isF32())
    return emitOpError() << "'init' element type " << initElement
                         << " must be f32 or the element type " << rowsElement
                         << " of 'rows'";
  if (Value gate = getGate()) {
    if (gate.getType() != weight.getType())
      return emitOpError() << "'gate' type " << gate.getType()
                           << " differs from 'weight' type "
                           << weight.getType();
    if (!getActivation())
      return emitOpError() << "a 'gate' needs an activation";
  } else if (getActivation()) {
    return emitOpError() << "an activation applies only with a 'gate'";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// FusedRouterOp
//===----------------------------------------------------------------------===//

LogicalResult FusedRouterOp::verify() {
  ShapeChecker check{*this};
  Value tokens = getTokens(), weight = getWeight();
  Value weightsInit = getWeightsInit(), indicesInit = getIndicesInit();
  if (failed(check.rank(tokens, "tokens", 2, "[T, H]")) ||
      failed(check.rank(weight, "weight", 2, "[E, H]")) ||
      failed(check.rank(weightsInit, "weights_init", 2, "[T, K]")) ||
      failed(check.rank(indicesInit, "indices_init", 2, "[T, K]")))
    return failure();
  bool onTensors = isa<RankedTensorType>(tokens.getType());
  for (Value operand : getOperation()->getOperands())
    if (isa<RankedTensorType>(operand.getType()) != onTensors)
      return emitOpError() << "operands must be all tensors or all memrefs";
  if (onTensors) {
    if (getResults().size() != 2 ||
        getResults()[0].getType() != weightsInit.getType() ||
        getResults()[1].getType() != indicesInit.getType())
      return emitOpError() << "on tensors must have two results of the types "
                              "of 'weights_init' and 'indices_init'";
  } else if (!getResults().empty()) {
    return emitOpError() << "on memrefs has no results";
  }
  int64_t numTokens = shapeOf(tokens)[0];
  int64_t experts = shapeOf(weight)[0];
  int64_t topK = getRouting().getTopK();
  if (failed(check.dim(weight, "weight", 1, shapeOf(tokens)[1],
                       "the hidden size of 'tokens'")) ||
      failed(check.sameElementType(weight, "weight", tokens, "tokens")))
    return failure();
  for (auto [value, name] :
       {std::pair<Value, StringRef>{weightsInit, "weights_init"},
        {indicesInit, "indices_init"}})
    if (failed(check.dim(value, name, 0, numTokens, "the tokens")) ||
        failed(check.dim(value, name, 1, topK, "top_k")))
      return failure();
  if (Value bias = getBias())
    if (failed(check.rank(bias, "bias", 1, "[E]")) ||
        failed(check.dim(bias, "bias", 0, experts, "the experts of 'weight'")))
      return failure();
  if (!isStatic(experts))
    return success();
  return getRouting().verifyAgainst([&] { return emitOpError(); }, experts);
}

//===----------------------------------------------------------------------===//
// CombineOp
//===----------------------------------------------------------------------===//

LogicalResult CombineOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getExpertOutputs(), "expert_outputs", 2, "[R, H]")) ||
      failed(check.rank(getSources(), "sources", 1, "[R]")) ||
      failed(check.rank(getWeights(), "weights", 2, "[T, K]")) ||
      failed(check.rank(getResult(), "result", 2, "[T, H]")))
    return failure();
  if (failed(check.dim(getSources(), "sources", 0,
                       shapeOf(getExpertOutputs())[0],
                       "the rows of 'expert_outputs'")) ||
      failed(check.dim(getResult(), "result", 0, shapeOf(getWeights())[0],
                       "the tokens of 'weights'")) ||
      failed(check.dim(getResult(), "result", 1,
                       shapeOf(getExpertOutputs())[1], "the hidden size")) ||
      failed(check.sameElementType(getResult(), "result", getExpertOutputs(),
                                   "expert_outputs")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// NullExpertsOp
//===----------------------------------------------------------------------===//

/// Verifies `constants(%vectors, %mix)` against `numConstant` constant experts
/// and hidden size `hidden`.
static LogicalResult verifyConstantExperts(ShapeChecker &check, Value tokens,
                                           Value vectors, Value mix,
                                           int64_t numConstant,
                                           int64_t hidden) {
  if (numConstant > 0 && !vectors)
    return check.op->emitOpError()
           << numConstant
           << " constant experts need `constants(%vectors, %mix)` operands";
  if (numConstant == 0 && vectors)
    return check.op->emitOpError()
           << "`constants(...)` are given but there are no constant experts";
  if (!vectors)
    return success();
  if (failed(check.rank(vectors, "constant_vectors", 2, "[Nc, H]")) ||
      failed(check.rank(mix, "constant_mix", 3, "[Nc, 2, H]")) ||
      failed(check.dim(vectors, "constant_vectors", 0, numConstant,
                       "the constant experts")) ||
      failed(check.dim(vectors, "constant_vectors", 1, hidden,
                       "the hidden size")) ||
      failed(check.dim(mix, "constant_mix", 0, numConstant,
                       "the constant experts")) ||
      failed(check.dim(mix, "constant_mix", 1, 2, "the two mixing weights")) ||
      failed(check.dim(mix, "constant_mix", 2, hidden, "the hidden size")) ||
      failed(check.sameElementType(vectors, "constant_vectors", tokens,
                                   "tokens")) ||
      failed(check.sameElementType(mix, "constant_mix", tokens, "tokens")))
    return failure();
  return success();
}

LogicalResult NullExpertsOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getTokens(), "tokens", 2, "[T, H]")) ||
      failed(check.rank(getIndices(), "indices", 2, "[T, K]")))
    return failure();
  int64_t numNull;
  if (__builtin_add_overflow(static_cast<int64_t>(getZero()),
                             static_cast<int64_t>(getCopy()), &numNull) ||
      __builtin_add_overflow(numNull, static_cast<int64_t>(getConstant()),
                             &numNull))
    return emitOpError() << "the null expert counts overflow int64";
  if (numNull == 0)
    return emitOpError() << "declares no null experts";
  if (getWeights().getType() !=
      getIndices().getType().clone(elementTypeOf(getWeights())))
    return emitOpError() << "'weights' shape must match 'indices'";
  if (failed(check.dim(getIndices(), "indices", 0, shapeOf(getTokens())[0],
                       "the tokens of 'tokens'")))
    return failure();
  if (getResult().getType() != getTokens().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from 'tokens' type "
                         << getTokens().getType();
  return verifyConstantExperts(check, getTokens(), getConstantVectors(),
                               getConstantMix(), getConstant(),
                               shapeOf(getTokens())[1]);
}

//===----------------------------------------------------------------------===//
// SharedExpertsOp
//===----------------------------------------------------------------------===//

LogicalResult SharedExpertsOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getTokens(), "tokens", 2, "[T, H]")))
    return failure();
  int64_t hidden = shapeOf(getTokens())[1];
  int64_t experts, intermediate;
  if (failed(verifyFFNWeights(check, getTokens(), hidden, getGateWeight(),
                              getUpWeight(), getDownWeight(), getLayout(),
                              /*perExpert=*/false, experts, intermediate)))
    return failure();
  if (Value gate = getSigmoidGate())
    if (failed(check.rank(gate, "sigmoid_gate", 1, "[H]")) ||
        failed(check.dim(gate, "sigmoid_gate", 0, hidden, "the hidden size")) ||
        failed(check.sameElementType(gate, "sigmoid_gate", getTokens(),
                                     "tokens")))
      return failure();
  if (getResult().getType() != getTokens().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from 'tokens' type "
                         << getTokens().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// LayerOp / ChainOp
//===----------------------------------------------------------------------===//

/// Checks what `moe.layer` and `moe.chain` share. `lead` is 1 for the chain's
/// per-iteration router and bias. Sets `routedExperts` and `intermediate`.
template <typename BlockOp>
static LogicalResult verifyBlock(BlockOp op, unsigned lead,
                                 int64_t &routedExperts,
                                 int64_t &intermediate) {
  ShapeChecker check{op};
  Value tokens = op.getTokens();
  if (failed(check.rank(tokens, "tokens", 2, "[T, H]")))
    return failure();
  int64_t hidden = shapeOf(tokens)[1];
  bool inOut = op.getLayout() == WeightLayout::in_out;
  StringRef routerHint = lead ? (inOut ? "[C, H, E]" : "[C, E, H]")
                              : (inOut ? "[H, E]" : "[E, H]");
  Value router = op.getRouterWeight();
  if (failed(check.rank(router, "router_weight", lead + 2, routerHint)))
    return failure();
  unsigned hDim = inOut ? lead : lead + 1, eDim = inOut ? lead + 1 : lead;
  int64_t experts = shapeOf(router)[eDim];
  if (failed(check.dim(router, "router_weight", hDim, hidden,
                       "the hidden size")) ||
      failed(check.sameElementType(router, "router_weight", tokens, "tokens")))
    return failure();
  if (Value bias = op.getBias()) {
    if (failed(check.rank(bias, "bias", lead + 1, lead ? "[C, E]" : "[E]")) ||
        failed(check.dim(bias, "bias", lead, experts,
                         "the experts of 'router_weight'")))
      return failure();
    if (lead && failed(check.dim(bias, "bias", 0, shapeOf(router)[0],
                                 "the iterations of 'router_weight'")))
      return failure();
  }
  RoutingAttr routing = op.getRouting();
  if (isStatic(experts) &&
      failed(routing.verifyAgainst([&] { return op.emitOpError(); }, experts)))
    return failure();

  int64_t weightExperts;
  if (failed(verifyFFNWeights(check, tokens, hidden, op.getGateWeight(),
                              op.getUpWeight(), op.getDownWeight(),
                              op.getLayout(), /*perExpert=*/true, weightExperts,
                              intermediate)))
    return failure();
  routedExperts = isStatic(experts) ? experts - routing.getNumNullExperts()
                                    : ShapedType::kDynamic;
  if (failed(check.dim(op.getUpWeight(), "up_weight", 0, routedExperts,
                       "the router's experts minus its null experts")))
    return failure();

  bool hasSharedFFN = op.getSharedUpWeight() || op.getSharedDownWeight();
  if (hasSharedFFN && !(op.getSharedUpWeight() && op.getSharedDownWeight()))
    return op.emitOpError()
           << "'shared_up' and 'shared_down' must be given together";
  if (!hasSharedFFN && (op.getSharedGateWeight() || op.getSharedSigmoidGate()))
    return op.emitOpError() << "shared expert gates are given without "
                               "'shared_up' and 'shared_down'";
  if (hasSharedFFN) {
    // Same checks as a standalone moe.shared_experts, under shared_* names.
    int64_t unused, sharedIntermediate;
    if (failed(verifyFFNWeights(check, tokens, hidden,
                                op.getSharedGateWeight(),
                                op.getSharedUpWeight(),
                                op.getSharedDownWeight(), op.getLayout(),
                                /*perExpert=*/false, unused,
                                sharedIntermediate, "shared_")))
      return failure();
    if (Value gate = op.getSharedSigmoidGate())
      if (failed(check.rank(gate, "shared_sigmoid_gate", 1, "[H]")) ||
          failed(check.dim(gate, "shared_sigmoid_gate", 0, hidden,
                           "the hidden size")) ||
          failed(check.sameElementType(gate, "shared_sigmoid_gate", tokens,
                                       "tokens")))
        return failure();
  }
  if (failed(verifyConstantExperts(check, tokens, op.getConstantVectors(),
                                   op.getConstantMix(),
                                   routing.getConstantExperts(), hidden)))
    return failure();
  if (op.getResult().getType() != tokens.getType())
    return op.emitOpError() << "result type " << op.getResult().getType()
                            << " differs from 'tokens' type "
                            << tokens.getType();
  return success();
}

LogicalResult LayerOp::verify() {
  int64_t routedExperts, intermediate;
  if (failed(verifyBlock(*this, /*lead=*/0, routedExperts, intermediate)) ||
      failed(verifyCapacity(*this, getCapacity(), getDropPolicy())))
    return failure();
  std::optional<ParallelAttr> plan = getParallel();
  if (!plan)
    return success();
  if (isStatic(routedExperts) && routedExperts % plan->getEp() != 0)
    return emitOpError() << "the parallel plan's ep (" << plan->getEp()
                         << ") does not divide the " << routedExperts
                         << " routed experts";
  if (isStatic(intermediate) && intermediate % plan->getEtp() != 0)
    return emitOpError() << "the parallel plan's etp (" << plan->getEtp()
                         << ") does not divide the expert intermediate size ("
                         << intermediate << ")";
  return success();
}

LogicalResult ChainOp::verify() {
  // Read signed: a negative count must not pass as a huge unsigned one.
  int64_t iterations = getIterationsAttr().getInt();
  if (iterations < 1)
    return emitOpError() << "iterations must be at least 1, got "
                         << iterations;
  int64_t routedExperts, intermediate;
  if (failed(verifyBlock(*this, /*lead=*/1, routedExperts, intermediate)))
    return failure();
  // One router per iteration: expanding the chain slices them statically.
  if (!isStatic(shapeOf(getRouterWeight())[0]))
    return emitOpError() << "'router_weight' dimension 0 must be static (one "
                            "router per iteration)";
  ShapeChecker check{*this};
  return check.dim(getRouterWeight(), "router_weight", 0, iterations,
                   "iterations");
}

//===----------------------------------------------------------------------===//
// UnionAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult UnionAttentionOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getTokens(), "tokens", 3, "[B, S, D]")) ||
      failed(check.rank(getGate(), "gate", 2, "[D, N]")) ||
      failed(check.rank(getGateBias(), "gate_bias", 1, "[N]")) ||
      failed(check.rank(getQuery(), "query", 3, "[N, D, Dh]")) ||
      failed(check.rank(getKey(), "key", 3, "[N, D, Dh]")) ||
      failed(check.rank(getValue(), "value", 3, "[N, D, Dh]")) ||
      failed(check.rank(getOutput(), "output", 3, "[N, Dh, D]")))
    return failure();
  int64_t seq = shapeOf(getTokens())[1], model = shapeOf(getTokens())[2];
  int64_t heads = shapeOf(getGate())[1];
  int64_t headDim = shapeOf(getQuery())[2];
  if (failed(check.dim(getGate(), "gate", 0, model, "the model size")) ||
      failed(check.dim(getGateBias(), "gate_bias", 0, heads,
                       "the heads of 'gate'")) ||
      failed(check.sameElementType(getGate(), "gate", getTokens(), "tokens")) ||
      failed(check.sameElementType(getOutput(), "output", getTokens(),
                                   "tokens")))
    return failure();
  for (auto [value, name] :
       {std::pair<Value, StringRef>{getQuery(), "query"},
        {getKey(), "key"},
        {getValue(), "value"}}) {
    if (failed(check.dim(value, name, 0, heads, "the heads of 'gate'")) ||
        failed(check.dim(value, name, 1, model, "the model size")) ||
        failed(check.dim(value, name, 2, headDim, "the head size of 'query'")) ||
        failed(check.sameElementType(value, name, getTokens(), "tokens")))
      return failure();
  }
  if (failed(check.dim(getOutput(), "output", 0, heads, "the heads of 'gate'")) ||
      failed(check.dim(getOutput(), "output", 1, headDim,
                       "the head size of 'query'")) ||
      failed(check.dim(getOutput(), "output", 2, model, "the model size")))
    return failure();
  if (isStatic(headDim) && headDim % 2 != 0)
    return emitOpError() << "head size " << headDim
                         << " must be even (RoPE rotates pairs)";
  if (isStatic(heads) && static_cast<int64_t>(getTopK()) > heads)
    return emitOpError() << "top_k (" << getTopK()
                         << ") exceeds the number of heads (" << heads << ")";
  if (isStatic(seq) && static_cast<int64_t>(getCapacity()) > seq)
    return emitOpError() << "capacity (" << getCapacity()
                         << ") exceeds the sequence length (" << seq << ")";
  if (!(getRopeTheta().convertToDouble() > 0.0))
    return emitOpError() << "rope_theta must be positive";
  if (getResult().getType() != getTokens().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from 'tokens' type "
                         << getTokens().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// UnionFFNOp
//===----------------------------------------------------------------------===//

LogicalResult UnionFFNOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getTokens(), "tokens", 3, "[B, S, D]")) ||
      failed(check.rank(getRouter(), "router", 2, "[D, N]")) ||
      failed(check.rank(getRouterBias(), "router_bias", 1, "[N]")))
    return failure();
  int64_t seq = shapeOf(getTokens())[1], model = shapeOf(getTokens())[2];
  int64_t experts = getNumExperts();
  if (failed(check.dim(getRouter(), "router", 0, model, "the model size")) ||
      failed(check.dim(getRouter(), "router", 1, experts, "num_experts")) ||
      failed(check.sameElementType(getRouter(), "router", getTokens(),
                                   "tokens")) ||
      failed(check.dim(getRouterBias(), "router_bias", 0, experts,
                       "num_experts")))
    return failure();
  int64_t unused, intermediate;
  if (failed(verifyFFNWeights(check, getTokens(), model, getGateWeight(),
                              getUpWeight(), getDownWeight(),
                              WeightLayout::in_out, /*perExpert=*/false,
                              unused, intermediate)))
    return failure();
  if (isStatic(intermediate) && intermediate % experts != 0)
    return emitOpError() << "num_experts (" << experts
                         << ") does not divide the FFN intermediate size ("
                         << intermediate << ")";
  if (std::optional<uint64_t> capacity = getCapacity();
      capacity && isStatic(seq) && static_cast<int64_t>(*capacity) > seq)
    return emitOpError() << "capacity (" << *capacity
                         << ") exceeds the sequence length (" << seq << ")";
  if (getResult().getType() != getTokens().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from 'tokens' type "
                         << getTokens().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// CompositionOp
//===----------------------------------------------------------------------===//

/// The type of one request's slice of `value` (its leading dimension dropped).
static RankedTensorType requestSliceType(Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  return RankedTensorType::get(type.getShape().drop_front(),
                               type.getElementType());
}

LogicalResult CompositionOp::verify() {
  ShapeChecker check{*this};
  if (failed(check.rank(getSelector(), "selector", 2, "[R, M]")))
    return failure();
  if (getModels().empty())
    return emitOpError() << "needs at least one model";
  if (shapeOf(getInputs()).empty() || shapeOf(getResult()).empty())
    return emitOpError() << "'inputs' and the result need a leading request "
                            "dimension";
  int64_t requests = shapeOf(getSelector())[0];
  if (failed(check.dim(getSelector(), "selector", 1, getModels().size(),
                       "the number of models")) ||
      failed(check.dim(getInputs(), "inputs", 0, requests,
                       "the requests of 'selector'")) ||
      failed(check.dim(getResult(), "result", 0, requests,
                       "the requests of 'selector'")))
    return failure();
  return success();
}

func::FuncOp CompositionOp::lookupModel(unsigned index,
                                        SymbolTableCollection *symbolTable) {
  auto ref = cast<SymbolRefAttr>(getModels()[index]);
  if (symbolTable)
    return symbolTable->lookupNearestSymbolFrom<func::FuncOp>(*this, ref);
  return SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(*this, ref);
}

FailureOr<SmallVector<CompositionOp::Model>>
CompositionOp::resolveModels(SymbolTableCollection *symbolTable) {
  SmallVector<Model> models;
  OperandRange weights = getWeights();
  unsigned next = 0;
  for (unsigned i = 0, e = getModels().size(); i < e; ++i) {
    func::FuncOp model = lookupModel(i, symbolTable);
    if (!model || model.getNumArguments() == 0)
      return failure();
    unsigned count = model.getNumArguments() - 1;
    if (count > weights.size() - next)
      return failure();
    models.push_back({model, weights.slice(next, count)});
    next += count;
  }
  if (next != weights.size())
    return failure();
  return models;
}

/// "1 weight", "4 weights".
static std::string weightCount(unsigned count) {
  return std::to_string(count) + (count == 1 ? " weight" : " weights");
}

LogicalResult
CompositionOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  RankedTensorType inputType = requestSliceType(getInputs());
  RankedTensorType resultType = requestSliceType(getResult());
  OperandRange weights = getWeights();
  unsigned next = 0; // the first weights operand of the current model
  for (auto [index, attr] : llvm::enumerate(getModels())) {
    auto ref = cast<SymbolRefAttr>(attr);
    func::FuncOp model = lookupModel(index, &symbolTable);
    if (!model)
      return emitOpError() << "model " << ref
                           << " does not name a func.func in scope";
    // The request's slice, then the model's own weights, to one result.
    FunctionType type = model.getFunctionType();
    SmallVector<Type> expectedInputs{inputType};
    if (type.getNumInputs() > 1)
      llvm::append_range(expectedInputs, type.getInputs().drop_front());
    auto expected =
        FunctionType::get(getContext(), expectedInputs, {resultType});
    if (type != expected)
      return emitOpError() << "model " << ref << " has type " << type
                           << ", expected " << expected
                           << " (one request's slice, then the model's "
                              "weights)";
    unsigned count = type.getNumInputs() - 1;
    unsigned left = weights.size() - next;
    if (count > left)
      return emitOpError() << "model " << ref << " takes "
                           << type.getNumInputs() << " arguments (the request "
                           << "and " << weightCount(count)
                           << ") but the weights operands left for it are "
                           << left;
    for (unsigned w = 0; w < count; ++w) {
      Type given = weights[next + w].getType();
      Type argument = type.getInput(1 + w);
      if (given != argument)
        return emitOpError() << "weight " << w << " of model " << ref
                             << " (weights operand " << next + w
                             << ") has type " << given << " but " << ref
                             << "'s argument " << 1 + w << " is " << argument;
    }
    next += count;
  }
  if (next != weights.size())
    return emitOpError() << "the models take " << weightCount(next)
                         << " in all but the op has " << weights.size()
                         << (weights.size() == 1 ? " weights operand"
                                                 : " weights operands");
  return success();
}

#define GET_OP_CLASSES
#include "moe/IR/MoEOps.cpp.inc"
