//===- ProgramOps.cpp - the ops a reference program may use ---------------===//

#include "ProgramOps.h"
#include "ProgramAttributes.h"
#include "Reference.h"

#include <algorithm>
#include <cstdlib>

namespace moert::reference {

using nlohmann::json;
using DeclaredShapes = std::vector<std::vector<int64_t>>;

static const HostTensor *operand(const OpOperands &operands,
                                 const char *name) {
  auto it = operands.single.find(name);
  return it == operands.single.end() ? nullptr : it->second;
}

/// A variadic operand; empty when absent.
static std::vector<const HostTensor *>
variadicOperand(const OpOperands &operands, const char *name) {
  auto it = operands.variadic.find(name);
  return it == operands.variadic.end() ? std::vector<const HostTensor *>{}
                                       : it->second;
}

static bool runRouter(const OpOperands &operands, const json &attributes,
                      const DeclaredShapes &, std::vector<HostTensor> &results,
                      std::string &error) {
  Routing routing;
  results.resize(2);
  return readRouting(attributes, routing, error) &&
         router(*operand(operands, "logits"), operand(operands, "bias"),
                routing, results[0], results[1], error);
}

static bool runDispatch(const OpOperands &operands, const json &attributes,
                        const DeclaredShapes &declared,
                        std::vector<HostTensor> &results, std::string &error) {
  int64_t numExperts;
  std::optional<CapacityMode> capacity;
  if (!readInt(attributes, "num_experts", numExperts, error) ||
      !readCapacityMode(attributes, capacity, error))
    return false;
  // The offsets' size comes from an attribute: check it against the program
  // before allocating E + 1 entries.
  if (declared[1] != std::vector<int64_t>{numExperts + 1}) {
    error = "num_experts " + std::to_string(numExperts) +
            " disagrees with the declared offsets shape " +
            shapeToString(declared[1]);
    return false;
  }
  results.resize(3);
  return dispatch(*operand(operands, "tokens"), *operand(operands, "indices"),
                  operand(operands, "weights"), numExperts, capacity,
                  results[0], results[1], results[2], error);
}

static bool runExperts(const OpOperands &operands, const json &attributes,
                       const DeclaredShapes &, std::vector<HostTensor> &results,
                       std::string &error) {
  Activation activation;
  WeightLayout layout;
  results.resize(1);
  return readActivation(attributes, activation, error) &&
         readLayout(attributes, layout, error) &&
         experts(*operand(operands, "rows"), *operand(operands, "offsets"),
                 operand(operands, "gate_weight"),
                 *operand(operands, "up_weight"),
                 *operand(operands, "down_weight"), activation, layout,
                 results[0], error);
}

static bool runCombine(const OpOperands &operands, const json &,
                       const DeclaredShapes &, std::vector<HostTensor> &results,
                       std::string &error) {
  results.resize(1);
  return combine(*operand(operands, "expert_outputs"),
                 *operand(operands, "sources"), *operand(operands, "weights"),
                 results[0], error);
}

static bool runNullExperts(const OpOperands &operands, const json &attributes,
                           const DeclaredShapes &,
                           std::vector<HostTensor> &results,
                           std::string &error) {
  NullExpertCounts counts;
  results.resize(1);
  return readInt(attributes, "first", counts.first, error) &&
         readInt(attributes, "zero", counts.zero, error) &&
         readInt(attributes, "copy", counts.copy, error) &&
         readInt(attributes, "constant", counts.constant, error) &&
         nullExperts(*operand(operands, "tokens"),
                     *operand(operands, "indices"),
                     *operand(operands, "weights"),
                     operand(operands, "constant_vectors"),
                     operand(operands, "constant_mix"), counts, results[0],
                     error);
}

static bool runSharedExperts(const OpOperands &operands,
                             const json &attributes, const DeclaredShapes &,
                             std::vector<HostTensor> &results,
                             std::string &error) {
  Activation activation;
  WeightLayout layout;
  results.resize(1);
  return readActivation(attributes, activation, error) &&
         readLayout(attributes, layout, error) &&
         sharedExperts(*operand(operands, "tokens"),
                       operand(operands, "gate_weight"),
                       *operand(operands, "up_weight"),
                       *operand(operands, "down_weight"),
                       operand(operands, "sigmoid_gate"), activation, layout,
                       results[0], error);
}

static BlockOperands blockOperands(const OpOperands &operands) {
  BlockOperands block;
  block.tokens = operand(operands, "tokens");
  block.routerWeight = operand(operands, "router_weight");
  block.bias = operand(operands, "bias");
  block.gateWeight = operand(operands, "gate_weight");
  block.upWeight = operand(operands, "up_weight");
  block.downWeight = operand(operands, "down_weight");
  block.sharedGateWeight = operand(operands, "shared_gate_weight");
  block.sharedUpWeight = operand(operands, "shared_up_weight");
  block.sharedDownWeight = operand(operands, "shared_down_weight");
  block.sharedSigmoidGate = operand(operands, "shared_sigmoid_gate");
  block.constantVectors = operand(operands, "constant_vectors");
  block.constantMix = operand(operands, "constant_mix");
  return block;
}

static bool readBlockAttributes(const json &attributes,
                                BlockAttributes &block, std::string &error) {
  return readRouting(attributes, block.routing, error) &&
         readActivation(attributes, block.activation, error) &&
         readLayout(attributes, block.layout, error);
}

static bool runLayer(const OpOperands &operands, const json &attributes,
                     const DeclaredShapes &, std::vector<HostTensor> &results,
                     std::string &error) {
  BlockAttributes block;
  results.resize(1);
  return readBlockAttributes(attributes, block, error) &&
         readCapacityMode(attributes, block.capacity, error) &&
         layer(blockOperands(operands), block, results[0], error);
}

static bool runChain(const OpOperands &operands, const json &attributes,
                     const DeclaredShapes &, std::vector<HostTensor> &results,
                     std::string &error) {
  BlockAttributes block;
  int64_t iterations;
  results.resize(1);
  return readBlockAttributes(attributes, block, error) &&
         readInt(attributes, "iterations", iterations, error) &&
         chain(blockOperands(operands), block, iterations, results[0], error);
}

static bool runUnionAttention(const OpOperands &operands,
                              const json &attributes, const DeclaredShapes &,
                              std::vector<HostTensor> &results,
                              std::string &error) {
  int64_t topK, capacity;
  std::optional<double> ropeTheta;
  if (!readInt(attributes, "top_k", topK, error) ||
      !readInt(attributes, "capacity", capacity, error) ||
      !readOptionalDouble(attributes, "rope_theta", ropeTheta, error))
    return false;
  UnionAttentionOperands ops;
  ops.tokens = operand(operands, "tokens");
  ops.gate = operand(operands, "gate");
  ops.gateBias = operand(operands, "gate_bias");
  ops.query = operand(operands, "query");
  ops.key = operand(operands, "key");
  ops.value = operand(operands, "value");
  ops.output = operand(operands, "output");
  results.resize(1);
  return unionAttention(ops, topK, capacity, ropeTheta.value_or(10000.0),
                        results[0], error);
}

static bool runUnionFFN(const OpOperands &operands, const json &attributes,
                        const DeclaredShapes &,
                        std::vector<HostTensor> &results, std::string &error) {
  int64_t numExperts;
  std::optional<int64_t> capacity;
  Activation activation;
  if (!readInt(attributes, "num_experts", numExperts, error) ||
      !readOptionalInt(attributes, "capacity", capacity, error) ||
      !readActivation(attributes, activation, error))
    return false;
  UnionFFNOperands ops;
  ops.tokens = operand(operands, "tokens");
  ops.router = operand(operands, "router");
  ops.routerBias = operand(operands, "router_bias");
  ops.gateWeight = operand(operands, "gate_weight");
  ops.upWeight = operand(operands, "up_weight");
  ops.downWeight = operand(operands, "down_weight");
  results.resize(1);
  return unionFFN(ops, numExperts, capacity, activation, results[0], error);
}

/// arith.addf on tensors: the residual sums between blocks.
static bool runAddF(const OpOperands &operands, const json &,
                    const DeclaredShapes &, std::vector<HostTensor> &results,
                    std::string &error) {
  const HostTensor &lhs = *operand(operands, "lhs");
  const HostTensor &rhs = *operand(operands, "rhs");
  if (lhs.shape != rhs.shape || lhs.data.size() != rhs.data.size()) {
    error = "arith.addf operands have different shapes " +
            shapeToString(lhs.shape) + " and " + shapeToString(rhs.shape);
    return false;
  }
  results.resize(1);
  results[0] = lhs;
  for (size_t i = 0; i < rhs.data.size(); ++i)
    results[0].data[i] += rhs.data[i];
  return true;
}

/// arith.constant of a float tensor: "value" is one element (a splat) or all
/// of them in row-major order; an element is a number or "nan", "inf",
/// "-inf".
static bool runConstant(const OpOperands &, const json &attributes,
                        const DeclaredShapes &declared,
                        std::vector<HostTensor> &results, std::string &error) {
  // The declared shape's element count was bounded when the program's values
  // were read.
  int64_t count = elementCount(declared[0]);
  auto element = [&](const json &value, double &out) {
    if (value.is_number()) {
      out = value.get<double>();
      return true;
    }
    if (value.is_string()) {
      const std::string &text = value.get_ref<const std::string &>();
      if (text == "nan" || text == "inf" || text == "-inf") {
        out = std::strtod(text.c_str(), nullptr);
        return true;
      }
    }
    return false;
  };
  const std::string expected =
      "attribute 'value' must be an element (a number, \"nan\", \"inf\" or "
      "\"-inf\") or an array of " +
      std::to_string(count) + " of them";
  auto it = attributes.find("value");
  if (it == attributes.end()) {
    error = expected;
    return false;
  }
  HostTensor value = zeroTensor("f32", declared[0]);
  if (!it->is_array()) {
    double splat;
    if (!element(*it, splat)) {
      error = expected;
      return false;
    }
    std::fill(value.data.begin(), value.data.end(), splat);
  } else {
    if (it->size() != static_cast<size_t>(count)) {
      error = expected + ", got " + std::to_string(it->size());
      return false;
    }
    for (size_t i = 0; i < it->size(); ++i)
      if (!element((*it)[i], value.data[i])) {
        error = expected;
        return false;
      }
  }
  results.resize(1);
  results[0] = std::move(value);
  return true;
}

/// moe.composition: "models" are the model functions' programs, model i
/// taking one request and then weights_per_model[i] of the "weights" operands
/// (the models' weights in model order; "weights_per_model" absent: no model
/// takes weights), and returning one result of the declared shape less its
/// request dimension.
static bool runComposition(const OpOperands &operands, const json &attributes,
                           const DeclaredShapes &declared,
                           std::vector<HostTensor> &results,
                           std::string &error) {
  auto models = attributes.find("models");
  if (models == attributes.end() || !models->is_array() || models->empty()) {
    error = "attribute 'models' must be a non-empty array of programs";
    return false;
  }
  std::vector<const HostTensor *> weights =
      variadicOperand(operands, "weights");
  // firstWeight[i]: model i's first weight; firstWeight[M] = the count.
  std::vector<size_t> firstWeight(models->size() + 1, 0);
  auto perModel = attributes.find("weights_per_model");
  if (perModel != attributes.end()) {
    const std::string expected =
        "attribute 'weights_per_model' must be an array of " +
        std::to_string(models->size()) +
        " non-negative integers (one per model)";
    if (!perModel->is_array() || perModel->size() != models->size()) {
      error = expected;
      return false;
    }
    for (size_t i = 0; i < models->size(); ++i) {
      const json &count = (*perModel)[i];
      // Bounded by the operands, so that the sum cannot overflow.
      if (!count.is_number_integer() || count.get<int64_t>() < 0 ||
          count.get<uint64_t>() > weights.size()) {
        error = expected + " of at most the " +
                std::to_string(weights.size()) + " weights operands";
        return false;
      }
      firstWeight[i + 1] = firstWeight[i] + count.get<size_t>();
    }
  }
  if (firstWeight.back() != weights.size()) {
    error = "the models take " + std::to_string(firstWeight.back()) +
            " weights in all (attribute 'weights_per_model'), the op has " +
            std::to_string(weights.size()) + " 'weights' operands";
    return false;
  }
  if (declared[0].empty()) {
    error = "the declared result needs a leading request dimension";
    return false;
  }
  std::vector<int64_t> requestResultShape(declared[0].begin() + 1,
                                          declared[0].end());
  RunModel runModel = [&](int64_t model, const HostTensor &request,
                          HostTensor &result, std::string &modelError) {
    std::vector<HostTensor> arguments = {request};
    for (size_t w = firstWeight[model]; w < firstWeight[model + 1]; ++w)
      arguments.push_back(*weights[w]);
    std::vector<HostTensor> returned;
    if (!runNestedProgram((*models)[model], arguments, returned, modelError))
      return false;
    if (returned.size() != 1) {
      modelError = "its program returns " + std::to_string(returned.size()) +
                   " values, expected 1";
      return false;
    }
    result = std::move(returned[0]);
    return true;
  };
  results.resize(1);
  return composition(*operand(operands, "selector"),
                     *operand(operands, "inputs"),
                     static_cast<int64_t>(models->size()), requestResultShape,
                     runModel, results[0], error);
}

static const std::vector<std::string> kBlockOptionalOperands = {
    "bias",
    "gate_weight",
    "shared_gate_weight",
    "shared_up_weight",
    "shared_down_weight",
    "shared_sigmoid_gate",
    "constant_vectors",
    "constant_mix"};

static const OpDefinition kOps[] = {
    {"arith.addf", {"lhs", "rhs"}, {}, "f", runAddF},
    {"arith.constant", {}, {}, "f", runConstant},
    {"moe.router", {"logits"}, {"bias"}, "fi", runRouter},
    {"moe.dispatch", {"tokens", "indices"}, {"weights"}, "fii", runDispatch},
    {"moe.experts",
     {"rows", "offsets", "up_weight", "down_weight"},
     {"gate_weight"},
     "f",
     runExperts},
    {"moe.combine", {"expert_outputs", "sources", "weights"}, {}, "f",
     runCombine},
    {"moe.null_experts",
     {"tokens", "indices", "weights"},
     {"constant_vectors", "constant_mix"},
     "f",
     runNullExperts},
    {"moe.shared_experts",
     {"tokens", "up_weight", "down_weight"},
     {"gate_weight", "sigmoid_gate"},
     "f",
     runSharedExperts},
    {"moe.layer",
     {"tokens", "router_weight", "up_weight", "down_weight"},
     kBlockOptionalOperands,
     "f",
     runLayer},
    {"moe.chain",
     {"tokens", "router_weight", "up_weight", "down_weight"},
     kBlockOptionalOperands,
     "f",
     runChain},
    {"moe.union_attention",
     {"tokens", "gate", "gate_bias", "query", "key", "value", "output"},
     {},
     "f",
     runUnionAttention},
    {"moe.union_ffn",
     {"tokens", "router", "router_bias", "up_weight", "down_weight"},
     {"gate_weight"},
     "f",
     runUnionFFN},
    {"moe.composition",
     {"selector", "inputs"},
     {},
     "f",
     runComposition,
     {"weights"}},
};

const OpDefinition *findOpDefinition(const std::string &name) {
  for (const OpDefinition &op : kOps)
    if (name == op.name)
      return &op;
  return nullptr;
}

} // namespace moert::reference
