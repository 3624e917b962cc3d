//===- ReferenceProgram.cpp - a function's moe ops as a JSON program ------===//
//
// The REFERENCE section of a bundle: each function's tensor-level program
// (its moe ops, operands by ODS name, attributes as plain JSON), which the
// runtime's reference interpreter (runtime/src/reference/ReferenceProgram.h)
// runs for `moe-run --check`. Float tensor constants (arith.constant of a
// dense attribute) are ops of the program; a moe.composition's "models" are
// the programs of its model functions, nested (each taking the request, then
// its weights), its variadic "weights" operand an array of value ids, and
// "weights_per_model" how many of them each model takes.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/Bundle.h"

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"
#include "moeflow/IR/MoEFlowOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include "BundleDType.h"
#include "moert/bundle_format.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace mlir::moe;
namespace json = llvm::json;

/// Whether `op` is a float tensor constant the program encodes.
static bool isTensorConstant(Operation *op) {
  auto constant = dyn_cast<arith::ConstantOp>(op);
  if (!constant)
    return false;
  auto type = dyn_cast<RankedTensorType>(constant.getType());
  return type && isa<FloatType>(type.getElementType()) &&
         isa<DenseElementsAttr>(constant.getValue());
}

/// One element of a constant: a number, or "nan", "inf", "-inf" (which JSON
/// numbers cannot hold).
static json::Value constantElement(const APFloat &element) {
  if (element.isNaN())
    return "nan";
  if (element.isInfinity())
    return element.isNegative() ? "-inf" : "inf";
  return element.convertToDouble();
}

namespace {

/// Builds one program; `fail` records why the function has none. A model of
/// a composition is built by a builder whose `caller` encodes the
/// composition.
class ProgramBuilder {
public:
  explicit ProgramBuilder(func::FuncOp func, ProgramBuilder *caller = nullptr)
      : func(func), caller(caller) {}

  FailureOr<json::Object> build();

private:
  /// Appends `value` to the value table.
  LogicalResult addValue(Value value);
  FailureOr<json::Object> operandsOf(Operation *op);
  FailureOr<json::Object> attributesOf(Operation *op);
  FailureOr<json::Value> attributeValue(Operation *op, StringRef name,
                                        Attribute attr);
  /// The programs of a composition's models, in order, and how many
  /// `weights` operands each takes.
  LogicalResult modelPrograms(CompositionOp op, json::Array &programs,
                              json::Array &weightsPerModel);

  /// A warning at `at` (the function when null): the function gets no
  /// reference program. Not attached to the op, so that it is one line. In a
  /// model, the warning names the public function and the model.
  LogicalResult fail(Operation *at, const Twine &why) {
    if (caller)
      return caller->fail(at ? at : func.getOperation(),
                          "in model '" + func.getSymName() + "', " + why);
    mlir::emitWarning(at ? at->getLoc() : func.getLoc())
        << "no reference program for function '" << func.getSymName()
        << "': " << why << "; moe-run --check will not be available for it";
    return failure();
  }

  func::FuncOp func;
  ProgramBuilder *caller;
  json::Array values;
  llvm::DenseMap<Value, int64_t> ids;
};

} // namespace

LogicalResult ProgramBuilder::addValue(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  const char *dtype = type ? bundleDTypeOf(type.getElementType()) : nullptr;
  if (!type || !type.hasStaticShape() || !dtype) {
    std::string printed;
    llvm::raw_string_ostream(printed) << value.getType();
    return fail(nullptr, "value of type " + printed +
                             " is not a static tensor of f32, f16, bf16, "
                             "i32 or i64");
  }
  ids[value] = static_cast<int64_t>(values.size());
  json::Array shape;
  for (int64_t dim : type.getShape())
    shape.push_back(dim);
  values.push_back(json::Object{{"dtype", dtype}, {"shape", std::move(shape)}});
  return success();
}

FailureOr<json::Object> ProgramBuilder::operandsOf(Operation *op) {
  // Operands by their ODS names, through the generated named accessors (a
  // renamed operand breaks the build here instead of the interpreter later).
  SmallVector<std::pair<StringRef, Value>> named;
  auto add = [&](StringRef name, Value value) {
    named.emplace_back(name, value);
  };
  // Variadic operands: an array of value ids (omitted when empty).
  SmallVector<std::pair<StringRef, ValueRange>> variadic;
  auto addVariadic = [&](StringRef name, ValueRange range) {
    variadic.emplace_back(name, range);
  };
  auto addBlock = [&](auto block) {
    add("tokens", block.getTokens());
    add("router_weight", block.getRouterWeight());
    add("bias", block.getBias());
    add("gate_weight", block.getGateWeight());
    add("up_weight", block.getUpWeight());
    add("down_weight", block.getDownWeight());
    add("shared_gate_weight", block.getSharedGateWeight());
    add("shared_up_weight", block.getSharedUpWeight());
    add("shared_down_weight", block.getSharedDownWeight());
    add("shared_sigmoid_gate", block.getSharedSigmoidGate());
    add("constant_vectors", block.getConstantVectors());
    add("constant_mix", block.getConstantMix());
  };
  bool known = llvm::TypeSwitch<Operation *, bool>(op)
                   .Case<RouterOp>([&](RouterOp o) {
                     add("logits", o.getLogits());
                     add("bias", o.getBias());
                     return true;
                   })
                   .Case<DispatchOp>([&](DispatchOp o) {
                     add("tokens", o.getTokens());
                     add("indices", o.getIndices());
                     add("weights", o.getWeights());
                     return true;
                   })
                   .Case<ExpertsOp>([&](ExpertsOp o) {
                     add("rows", o.getRows());
                     add("offsets", o.getOffsets());
                     add("gate_weight", o.getGateWeight());
                     add("up_weight", o.getUpWeight());
                     add("down_weight", o.getDownWeight());
                     return true;
                   })
                   .Case<CombineOp>([&](CombineOp o) {
                     add("expert_outputs", o.getExpertOutputs());
                     add("sources", o.getSources());
                     add("weights", o.getWeights());
                     return true;
                   })
                   .Case<NullExpertsOp>([&](NullExpertsOp o) {
                     add("tokens", o.getTokens());
                     add("indices", o.getIndices());
                     add("weights", o.getWeights());
                     add("constant_vectors", o.getConstantVectors());
                     add("constant_mix", o.getConstantMix());
                     return true;
                   })
                   .Case<SharedExpertsOp>([&](SharedExpertsOp o) {
                     add("tokens", o.getTokens());
                     add("gate_weight", o.getGateWeight());
                     add("up_weight", o.getUpWeight());
                     add("down_weight", o.getDownWeight());
                     add("sigmoid_gate", o.getSigmoidGate());
                     return true;
                   })
                   .Case<LayerOp>([&](LayerOp o) {
                     addBlock(o);
                     return true;
                   })
                   .Case<ChainOp>([&](ChainOp o) {
                     addBlock(o);
                     return true;
                   })
                   .Case<UnionAttentionOp>([&](UnionAttentionOp o) {
                     add("tokens", o.getTokens());
                     add("gate", o.getGate());
                     add("gate_bias", o.getGateBias());
                     add("query", o.getQuery());
                     add("key", o.getKey());
                     add("value", o.getValue());
                     add("output", o.getOutput());
                     return true;
                   })
                   .Case<UnionFFNOp>([&](UnionFFNOp o) {
                     add("tokens", o.getTokens());
                     add("router", o.getRouter());
                     add("router_bias", o.getRouterBias());
                     add("gate_weight", o.getGateWeight());
                     add("up_weight", o.getUpWeight());
                     add("down_weight", o.getDownWeight());
                     return true;
                   })
                   .Case<arith::AddFOp>([&](arith::AddFOp o) {
                     // Residual sums between blocks.
                     add("lhs", o.getLhs());
                     add("rhs", o.getRhs());
                     return true;
                   })
                   .Case<CompositionOp>([&](CompositionOp o) {
                     add("selector", o.getSelector());
                     add("inputs", o.getInputs());
                     addVariadic("weights", o.getWeights());
                     return true;
                   })
                   .Case<arith::ConstantOp>([&](arith::ConstantOp) {
                     return true; // no operands; the value is an attribute
                   })
                   .Default([](Operation *) { return false; });
  if (!known) {
    (void)fail(op, "op '" + op->getName().getStringRef() +
                       "' has no reference encoding yet");
    return failure();
  }

  json::Object operands;
  unsigned present = 0;
  auto idOf = [&](Value value) -> FailureOr<int64_t> {
    auto it = ids.find(value);
    if (it == ids.end()) {
      (void)fail(op, "an operand of '" + op->getName().getStringRef() +
                         "' is defined outside the function body");
      return failure();
    }
    return it->second;
  };
  for (auto [name, value] : named) {
    if (!value)
      continue; // absent optional operand
    ++present;
    FailureOr<int64_t> id = idOf(value);
    if (failed(id))
      return failure();
    operands[name] = *id;
  }
  for (auto [name, range] : variadic) {
    if (range.empty())
      continue; // as an absent optional operand
    json::Array list;
    for (Value value : range) {
      ++present;
      FailureOr<int64_t> id = idOf(value);
      if (failed(id))
        return failure();
      list.push_back(*id);
    }
    operands[name] = std::move(list);
  }
  if (present != op->getNumOperands()) {
    (void)fail(op, "'" + op->getName().getStringRef() +
                       "' has operands the encoder does not name");
    return failure();
  }
  return operands;
}

FailureOr<json::Value> ProgramBuilder::attributeValue(Operation *op,
                                                      StringRef name,
                                                      Attribute attr) {
  if (auto routing = dyn_cast<RoutingAttr>(attr)) {
    json::Object object{
        {"scoring", stringifyScoring(routing.getScoring()).str()},
        {"top_k", routing.getTopK()},
        {"renormalize", routing.getRenormalize()},
        {"scaling_factor", routing.getScale()},
        {"num_groups", routing.getNumGroups()},
        {"kept_groups", routing.getNumKeptGroups()},
        {"group_score", stringifyGroupScore(routing.getGroupScore()).str()},
        {"zero_experts", routing.getZeroExperts()},
        {"copy_experts", routing.getCopyExperts()},
        {"constant_experts", routing.getConstantExperts()},
    };
    if (FloatAttr topP = routing.getTopP())
      object["top_p"] = topP.getValueAsDouble();
    return json::Value(std::move(object));
  }
  if (auto activation = dyn_cast<ActivationAttr>(attr))
    return json::Value(stringifyActivation(activation.getValue()).str());
  if (auto layout = dyn_cast<WeightLayoutAttr>(attr))
    return json::Value(stringifyWeightLayout(layout.getValue()).str());
  if (auto policy = dyn_cast<DropPolicyAttr>(attr))
    return json::Value(stringifyDropPolicy(policy.getValue()).str());
  if (auto tier = dyn_cast<TierAttr>(attr))
    return json::Value(stringifyMemoryTier(tier.getTier()).str());
  if (auto plan = dyn_cast<ParallelAttr>(attr))
    return json::Value(json::Object{{"tp", plan.getTp()},
                                    {"cp", plan.getCp()},
                                    {"dp", plan.getDp()},
                                    {"pp", plan.getPp()},
                                    {"etp", plan.getEtp()},
                                    {"ep", plan.getEp()},
                                    {"edp", plan.getEdp()}});
  if (auto boolean = dyn_cast<BoolAttr>(attr))
    return json::Value(boolean.getValue());
  if (auto integer = dyn_cast<IntegerAttr>(attr))
    return json::Value(integer.getValue().getSExtValue());
  if (auto real = dyn_cast<FloatAttr>(attr))
    return json::Value(real.getValueAsDouble());
  if (auto array = dyn_cast<ArrayAttr>(attr)) {
    json::Array items;
    for (Attribute item : array) {
      if (auto symbol = dyn_cast<SymbolRefAttr>(item)) {
        items.push_back(symbol.getRootReference().str());
        continue;
      }
      FailureOr<json::Value> value = attributeValue(op, name, item);
      if (failed(value))
        return failure();
      items.push_back(std::move(*value));
    }
    return json::Value(std::move(items));
  }
  (void)fail(op, "attribute '" + name + "' of '" +
                     op->getName().getStringRef() +
                     "' has no reference encoding yet");
  return failure();
}

LogicalResult ProgramBuilder::modelPrograms(CompositionOp op,
                                            json::Array &programs,
                                            json::Array &weightsPerModel) {
  // A verified op resolves; the check guards unverified input.
  FailureOr<SmallVector<CompositionOp::Model>> models = op.resolveModels();
  if (failed(models))
    return fail(op, "its models do not resolve to func.funcs taking the "
                    "request and their weights");
  for (const CompositionOp::Model &model : *models) {
    // No recursion: a model's request has one dimension fewer than the
    // composition's inputs, so nested compositions end.
    FailureOr<json::Object> program = ProgramBuilder(model.func, this).build();
    if (failed(program))
      return failure();
    programs.push_back(std::move(*program));
    weightsPerModel.push_back(static_cast<int64_t>(model.weights.size()));
  }
  return success();
}

FailureOr<json::Object> ProgramBuilder::attributesOf(Operation *op) {
  json::Object attributes;
  // A float tensor constant: "value" is one element (a splat) or all of them
  // in row-major order.
  if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
    auto dense = cast<DenseElementsAttr>(constant.getValue());
    if (dense.isSplat()) {
      attributes["value"] = constantElement(dense.getSplatValue<APFloat>());
      return attributes;
    }
    json::Array elements;
    for (const APFloat &element : dense.getValues<APFloat>())
      elements.push_back(constantElement(element));
    attributes["value"] = std::move(elements);
    return attributes;
  }
  std::optional<RegisteredOperationName> info = op->getRegisteredInfo();
  // Only moe ops carry attributes the reference needs (fast-math flags of a
  // residual add change nothing in double precision).
  if (!info || !isa<MoEDialect>(op->getDialect()))
    return attributes;
  for (StringAttr name : info->getAttributeNames()) {
    if (name.getValue() == "operandSegmentSizes" ||
        name.getValue() == "resultSegmentSizes")
      continue;
    Attribute attr = op->getAttr(name);
    if (!attr)
      continue; // absent optional attribute
    FailureOr<json::Value> value = attributeValue(op, name.getValue(), attr);
    if (failed(value))
      return failure();
    attributes[name.getValue()] = std::move(*value);
  }
  // Default-valued attributes are explicit in the program.
  if (auto attention = dyn_cast<UnionAttentionOp>(op))
    attributes["rope_theta"] = attention.getRopeTheta().convertToDouble();
  // A composition's models are their programs, not their names.
  // How many `weights` operands each model takes is explicit (absent when
  // none takes any, as in bundles from before models took weights).
  if (auto composition = dyn_cast<CompositionOp>(op)) {
    json::Array programs, weightsPerModel;
    if (failed(modelPrograms(composition, programs, weightsPerModel)))
      return failure();
    attributes["models"] = std::move(programs);
    if (!composition.getWeights().empty())
      attributes["weights_per_model"] = std::move(weightsPerModel);
  }
  return attributes;
}

FailureOr<json::Object> ProgramBuilder::build() {
  if (func.isExternal() || !func.getBody().hasOneBlock()) {
    (void)fail(nullptr, "it has no single-block body");
    return failure();
  }
  Block &body = func.getBody().front();
  for (BlockArgument argument : body.getArguments())
    if (failed(addValue(argument)))
      return failure();

  json::Array ops, returns;
  for (Operation &op : body) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value operand : ret.getOperands())
        returns.push_back(ids.lookup(operand));
      continue;
    }
    // A prefetch (moe-plan-tiers) moves a tensor between memory tiers: the
    // same value to the reference.
    if (auto prefetch = dyn_cast<moeflow::PrefetchOp>(op)) {
      auto it = ids.find(prefetch.getInput());
      if (it == ids.end()) {
        (void)fail(&op, "a prefetched tensor is defined outside the function "
                        "body");
        return failure();
      }
      ids[prefetch.getResult()] = it->second;
      continue;
    }
    if (!isa<MoEDialect>(op.getDialect()) && !isa<arith::AddFOp>(op) &&
        !isTensorConstant(&op)) {
      (void)fail(&op, "it contains '" + op.getName().getStringRef() +
                          "', an op outside the moe dialect and arith.addf");
      return failure();
    }
    FailureOr<json::Object> operands = operandsOf(&op);
    if (failed(operands))
      return failure();
    FailureOr<json::Object> attributes = attributesOf(&op);
    if (failed(attributes))
      return failure();
    json::Array results;
    for (Value result : op.getResults()) {
      if (failed(addValue(result)))
        return failure();
      results.push_back(ids.lookup(result));
    }
    ops.push_back(json::Object{{"op", op.getName().getStringRef().str()},
                               {"operands", std::move(*operands)},
                               {"results", std::move(results)},
                               {"attributes", std::move(*attributes)}});
  }

  return json::Object{{"function", func.getSymName().str()},
                      {"values", std::move(values)},
                      {"ops", std::move(ops)},
                      {"returns", std::move(returns)}};
}

FailureOr<std::string> mlir::moe::buildReferenceProgram(func::FuncOp func) {
  FailureOr<json::Object> program = ProgramBuilder(func).build();
  if (failed(program))
    return failure();
  std::string text;
  llvm::raw_string_ostream(text) << json::Value(std::move(*program));
  return text;
}
