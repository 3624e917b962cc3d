//===- ReferenceProgramTest.cpp - the JSON reference-program interpreter --===//

#include "Reference.h"
#include "ProgramOps.h"
#include "ReferenceProgram.h"
#include "TestTensors.h"

#include <nlohmann/json.hpp>

using namespace moert::reference;
using namespace moert::reference::testing;
using nlohmann::json;

namespace {

/// A Mixtral-like layer program (out_in) over T = 4, H = 3, E = 4, F = 2,
/// and its arguments.
struct LayerProgram {
  json program;
  std::vector<HostTensor> arguments;

  LayerProgram() {
    std::mt19937_64 rng(1);
    arguments = {randomF32({4, 3}, rng), randomF32({4, 3}, rng),
                 randomF32({4, 2, 3}, rng), randomF32({4, 2, 3}, rng),
                 randomF32({4, 3, 2}, rng)};
    program = {
        {"function", "mixtral_moe"},
        {"values", json::array()},
        {"ops",
         {{{"op", "moe.layer"},
           {"operands",
            {{"tokens", 0},
             {"router_weight", 1},
             {"gate_weight", 2},
             {"up_weight", 3},
             {"down_weight", 4}}},
           {"results", {5}},
           {"attributes",
            {{"routing",
              {{"scoring", "softmax"},
               {"top_k", 2},
               {"renormalize", true},
               {"scaling_factor", 1.0},
               {"num_groups", 1},
               {"kept_groups", 1},
               {"group_score", "top2_sum"},
               {"zero_experts", 0},
               {"copy_experts", 0},
               {"constant_experts", 0}}},
             {"activation", "silu"},
             {"layout", "out_in"}}}}}},
        {"returns", {5}}};
    for (const HostTensor &argument : arguments)
      program["values"].push_back(
          {{"dtype", argument.dtype}, {"shape", argument.shape}});
    program["values"].push_back({{"dtype", "f32"}, {"shape", {4, 3}}});
  }

  HostTensor direct() const {
    BlockOperands ops;
    ops.tokens = &arguments[0];
    ops.routerWeight = &arguments[1];
    ops.gateWeight = &arguments[2];
    ops.upWeight = &arguments[3];
    ops.downWeight = &arguments[4];
    BlockAttributes attrs;
    attrs.routing.topK = 2;
    attrs.routing.renormalize = true;
    attrs.layout = WeightLayout::outIn;
    HostTensor result;
    std::string error;
    EXPECT_TRUE(layer(ops, attrs, result, error)) << error;
    return result;
  }
};

std::string programError(const json &program,
                         const std::vector<HostTensor> &arguments) {
  std::vector<HostTensor> results;
  std::string error;
  EXPECT_FALSE(runProgram(program.dump(), arguments, results, error));
  EXPECT_TRUE(results.empty());
  return error;
}

// Tests that a moe.layer program computes what the layer reference does.
TEST(ReferenceProgramTest, LayerMatchesDirectCall) {
  LayerProgram p;
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runProgram(p.program.dump(), p.arguments, results, error))
      << error;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].dtype, "f32");
  expectNear(results[0].data, p.direct().data);
}

// Tests the decomposed form (router, dispatch, experts, combine; what
// moe-decompose emits) matches the layer, with the declared result dtypes.
TEST(ReferenceProgramTest, DecomposedMatchesLayer) {
  LayerProgram p;
  std::mt19937_64 rng(1);
  // logits = x · Wrᵀ computed here: the program starts at the router.
  HostTensor logits = zeroTensor("f32", {4, 4});
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t e = 0; e < 4; ++e)
      for (int64_t h = 0; h < 3; ++h)
        logits.data[t * 4 + e] += p.arguments[0].data[t * 3 + h] *
                                  p.arguments[1].data[e * 3 + h];
  std::vector<HostTensor> arguments = {p.arguments[0], logits, p.arguments[2],
                                       p.arguments[3], p.arguments[4]};
  json routing = p.program["ops"][0]["attributes"]["routing"];
  json program = {
      {"values",
       {{{"dtype", "f32"}, {"shape", {4, 3}}},
        {{"dtype", "f32"}, {"shape", {4, 4}}},
        {{"dtype", "f32"}, {"shape", {4, 2, 3}}},
        {{"dtype", "f32"}, {"shape", {4, 2, 3}}},
        {{"dtype", "f32"}, {"shape", {4, 3, 2}}},
        {{"dtype", "f32"}, {"shape", {4, 2}}},   // 5 weights
        {{"dtype", "i64"}, {"shape", {4, 2}}},   // 6 indices
        {{"dtype", "bf16"}, {"shape", {8, 3}}},  // 7 rows
        {{"dtype", "i32"}, {"shape", {5}}},      // 8 offsets
        {{"dtype", "i32"}, {"shape", {8}}},      // 9 sources
        {{"dtype", "bf16"}, {"shape", {8, 3}}},  // 10 expert outputs
        {{"dtype", "f32"}, {"shape", {4, 3}}}}}, // 11 result
      {"ops",
       {{{"op", "moe.router"},
         {"operands", {{"logits", 1}}},
         {"results", {5, 6}},
         {"attributes", {{"routing", routing}}}},
        {{"op", "moe.dispatch"},
         {"operands", {{"tokens", 0}, {"indices", 6}}},
         {"results", {7, 8, 9}},
         {"attributes", {{"num_experts", 4}}}},
        {{"op", "moe.experts"},
         {"operands",
          {{"rows", 7},
           {"offsets", 8},
           {"gate_weight", 2},
           {"up_weight", 3},
           {"down_weight", 4}}},
         {"results", {10}},
         {"attributes", {{"activation", "silu"}, {"layout", "out_in"}}}},
        {{"op", "moe.combine"},
         {"operands", {{"expert_outputs", 10}, {"sources", 9}, {"weights", 5}}},
         {"results", {11}}}}},
      {"returns", {11, 6}}};
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runProgram(program.dump(), arguments, results, error)) << error;
  ASSERT_EQ(results.size(), 2u);
  expectNear(results[0].data, p.direct().data);
  EXPECT_EQ(results[1].dtype, "i64");
}

// Tests the structural errors each get a clear message.
TEST(ReferenceProgramTest, StructuralErrors) {
  LayerProgram p;
  json bad = p.program;
  bad["ops"][0]["op"] = "moe.frobnicate";
  EXPECT_NE(programError(bad, p.arguments).find("unknown op 'moe.frobnicate'"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["operands"].erase("up_weight");
  // Value 3 is now an unused argument: still an argument, so the layer
  // misses its operand.
  EXPECT_NE(programError(bad, p.arguments).find("missing operand 'up_weight'"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["operands"]["gate"] = 2;
  EXPECT_NE(programError(bad, p.arguments).find("unknown operand 'gate'"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["operands"]["tokens"] = 17;
  EXPECT_NE(programError(bad, p.arguments).find("out of range"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["operands"]["tokens"] = -1;
  EXPECT_NE(programError(bad, p.arguments).find("out of range"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["operands"]["tokens"] = 5; // its own result
  EXPECT_NE(programError(bad, p.arguments).find("before it is defined"),
            std::string::npos);
  bad = p.program;
  bad["returns"] = {9};
  EXPECT_NE(programError(bad, p.arguments).find("out of range"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["results"] = {5, 5};
  EXPECT_NE(programError(bad, p.arguments).find("defined twice"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["results"] = {2}; // values 3.. are then neither
  EXPECT_NE(programError(bad, p.arguments).find("arguments come first"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0].erase("operands");
  EXPECT_NE(programError(bad, p.arguments).find("operands"),
            std::string::npos);
}

// Tests arguments and results are checked against the declared values.
TEST(ReferenceProgramTest, TypeErrors) {
  LayerProgram p;
  std::vector<HostTensor> fewer(p.arguments.begin(), p.arguments.end() - 1);
  EXPECT_NE(programError(p.program, fewer).find("takes 5 arguments, got 4"),
            std::string::npos);
  std::vector<HostTensor> wrongDtype = p.arguments;
  wrongDtype[0].dtype = "bf16";
  EXPECT_NE(programError(p.program, wrongDtype).find("argument 0"),
            std::string::npos);
  std::vector<HostTensor> wrongShape = p.arguments;
  wrongShape[1].shape = {3, 4};
  EXPECT_NE(programError(p.program, wrongShape).find("argument 1"),
            std::string::npos);
  std::vector<HostTensor> shortData = p.arguments;
  shortData[2].data.pop_back();
  EXPECT_NE(programError(p.program, shortData).find("elements"),
            std::string::npos);
  json bad = p.program;
  bad["values"][5]["shape"] = {4, 4};
  EXPECT_NE(programError(bad, p.arguments).find("declared [4, 4]"),
            std::string::npos);
  bad = p.program;
  bad["values"][5]["dtype"] = "i32";
  EXPECT_NE(programError(bad, p.arguments).find("float"), std::string::npos);
  bad = p.program;
  bad["values"][0]["dtype"] = "f64";
  EXPECT_NE(programError(bad, p.arguments).find("unknown dtype"),
            std::string::npos);
  bad = p.program;
  bad["values"][0]["shape"] = {4, -3};
  EXPECT_NE(programError(bad, p.arguments).find("non-negative"),
            std::string::npos);
  bad = p.program;
  bad["values"][0]["shape"] = {1 << 20, 1 << 20, 1 << 20};
  EXPECT_NE(programError(bad, p.arguments).find("too many"),
            std::string::npos);
}

// Tests attribute errors: wrong JSON types, unknown enum spellings, an
// unknown routing key, capacity without a drop policy, and an op's own error
// (k > E) prefixed with the op.
TEST(ReferenceProgramTest, AttributeErrors) {
  LayerProgram p;
  json bad = p.program;
  bad["ops"][0]["attributes"]["routing"]["top_k"] = "2";
  EXPECT_NE(programError(bad, p.arguments).find("top_k"), std::string::npos);
  bad = p.program;
  bad["ops"][0]["attributes"]["activation"] = "swish";
  EXPECT_NE(programError(bad, p.arguments).find("silu, gelu"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["attributes"]["routing"]["topk"] = 2;
  EXPECT_NE(programError(bad, p.arguments).find("unknown parameter 'topk'"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["attributes"]["capacity"] = 2;
  EXPECT_NE(programError(bad, p.arguments).find("drop_policy"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["attributes"]["routing"]["top_k"] = 9;
  EXPECT_NE(programError(bad, p.arguments).find("op 0 (moe.layer): routing"),
            std::string::npos);
  bad = p.program;
  bad["ops"][0]["attributes"]["routing"]["top_k"] = 18446744073709551615ull;
  EXPECT_NE(programError(bad, p.arguments).find("int64"), std::string::npos);
  bad = p.program;
  bad["ops"][0]["attributes"] = "silu";
  EXPECT_NE(programError(bad, p.arguments).find("attributes"),
            std::string::npos);
}

// Tests capacity and optional attributes reach the op.
TEST(ReferenceProgramTest, CapacityAttributes) {
  LayerProgram p;
  json capped = p.program;
  capped["ops"][0]["attributes"]["capacity"] = 1;
  capped["ops"][0]["attributes"]["drop_policy"] = "score";
  capped["ops"][0]["attributes"]["routing"]["top_p"] = nullptr; // = absent
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runProgram(capped.dump(), p.arguments, results, error)) << error;
  // With at most one row per expert, some tokens lose a slot.
  HostTensor dropless = p.direct();
  double difference = 0;
  for (size_t i = 0; i < dropless.data.size(); ++i)
    difference += std::fabs(dropless.data[i] - results[0].data[i]);
  EXPECT_GT(difference, 0.0);
}

// Tests hostile text: malformed JSON, wrong top-level types, and every
// truncation of a valid program fail with an error, never a crash.
TEST(ReferenceProgramTest, HostileJson) {
  LayerProgram p;
  std::vector<HostTensor> results;
  std::string error;
  EXPECT_FALSE(runProgram("{", p.arguments, results, error));
  EXPECT_NE(error.find("parse"), std::string::npos);
  EXPECT_FALSE(runProgram("[1, 2]", p.arguments, results, error));
  EXPECT_FALSE(runProgram("{\"values\": 3, \"ops\": [], \"returns\": []}",
                          p.arguments, results, error));
  EXPECT_FALSE(runProgram("{\"values\": [{\"dtype\": 1}], \"ops\": [], "
                          "\"returns\": []}",
                          p.arguments, results, error));
  std::string text = p.program.dump();
  for (size_t cut = 0; cut < text.size(); ++cut)
    EXPECT_FALSE(runProgram(text.substr(0, cut), p.arguments, results, error));
  // Every value replaced by a wrong-typed one.
  for (json wrong : {json(nullptr), json("x"), json(-1), json(1.5),
                     json::array(), json::object()}) {
    json mutated = p.program;
    mutated["ops"][0]["results"][0] = wrong;
    EXPECT_FALSE(runProgram(mutated.dump(), p.arguments, results, error));
    mutated = p.program;
    mutated["ops"][0]["op"] = wrong;
    EXPECT_FALSE(runProgram(mutated.dump(), p.arguments, results, error));
    mutated = p.program;
    mutated["values"][0]["shape"][0] = wrong;
    EXPECT_FALSE(runProgram(mutated.dump(), p.arguments, results, error));
    mutated = p.program;
    mutated["returns"] = wrong;
    if (!wrong.is_array()) { // an empty "returns" is a valid program
      EXPECT_FALSE(runProgram(mutated.dump(), p.arguments, results, error));
    }
  }
}

// Tests a dispatch whose num_experts disagrees with the declared offsets is
// refused before allocating them.
TEST(ReferenceProgramTest, DispatchExpertsAgainstOffsets) {
  json program = {
      {"values",
       {{{"dtype", "f32"}, {"shape", {2, 2}}},
        {{"dtype", "i32"}, {"shape", {2, 1}}},
        {{"dtype", "f32"}, {"shape", {2, 2}}},
        {{"dtype", "i32"}, {"shape", {3}}},
        {{"dtype", "i32"}, {"shape", {2}}}}},
      {"ops",
       {{{"op", "moe.dispatch"},
         {"operands", {{"tokens", 0}, {"indices", 1}}},
         {"results", {2, 3, 4}},
         {"attributes", {{"num_experts", 4000000000000LL}}}}}},
      {"returns", {3}}};
  std::vector<HostTensor> arguments = {f32({2, 2}, {1, 2, 3, 4}),
                                       i32({2, 1}, {1, 0})};
  EXPECT_NE(programError(program, arguments).find("offsets shape"),
            std::string::npos);
  program["ops"][0]["attributes"]["num_experts"] = 2;
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runProgram(program.dump(), arguments, results, error)) << error;
  EXPECT_EQ(results[0].data, (std::vector<double>{0, 1, 2}));
}

} // namespace

// Tests that residual sums between blocks (arith.addf) are interpreted, and
// that operands of different shapes are an error.
TEST(ReferenceProgramTest, ResidualAdd) {
  std::string program = R"({"function": "f",
    "values": [{"dtype": "f32", "shape": [2]}, {"dtype": "f32", "shape": [2]},
               {"dtype": "f32", "shape": [2]}],
    "ops": [{"op": "arith.addf", "operands": {"lhs": 0, "rhs": 1},
             "results": [2], "attributes": {}}],
    "returns": [2]})";
  std::vector<HostTensor> args = {{"f32", {2}, {1.0, 2.0}},
                                  {"f32", {2}, {0.5, -4.0}}};
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runProgram(program, args, results, error)) << error;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].data, (std::vector<double>{1.5, -2.0}));
}

namespace {

/// A model program over requests of shape [2]: x + c for the constant `c`
/// (a splat number, an array or a special element).
json addConstantModel(json constant) {
  return {{"function", "model"},
          {"values",
           {{{"dtype", "f32"}, {"shape", {2}}},
            {{"dtype", "f32"}, {"shape", {2}}},
            {{"dtype", "f32"}, {"shape", {2}}}}},
          {"ops",
           {{{"op", "arith.constant"},
             {"operands", json::object()},
             {"results", {1}},
             {"attributes", {{"value", std::move(constant)}}}},
            {{"op", "arith.addf"},
             {"operands", {{"lhs", 0}, {"rhs", 1}}},
             {"results", {2}},
             {"attributes", json::object()}}}},
          {"returns", {2}}};
}

/// A composition of `models` over R = 4 requests of shape [2].
json compositionProgram(json models) {
  return {{"function", "composition"},
          {"values",
           {{{"dtype", "f32"}, {"shape", {4, 3}}},
            {{"dtype", "f32"}, {"shape", {4, 2}}},
            {{"dtype", "f32"}, {"shape", {4, 2}}}}},
          {"ops",
           {{{"op", "moe.composition"},
             {"operands", {{"selector", 0}, {"inputs", 1}}},
             {"results", {2}},
             {"attributes",
              {{"models", std::move(models)}, {"weights_tier", "host"}}}}}},
          {"returns", {2}}};
}

/// Selector rows: model 2; a tie of models 1 and 2 (1 wins); a three-way tie
/// (0 wins); model 1.
std::vector<HostTensor> compositionArguments() {
  return {f32({4, 3}, {0.1, -0.5, 0.7, -1.0, 0.25, 0.25, 0.5, 0.5, 0.5, 0.0,
                       2.0, 1.0}),
          f32({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8})};
}

} // namespace

// Tests a composition program: per request the argmax model's nested program
// (ties to the lower index) runs on the request's slice; float constants are
// splats, arrays, or the special elements.
TEST(ReferenceProgramTest, Composition) {
  json models = {addConstantModel(100.0),
                 addConstantModel(json::array({10.0, 20.0})),
                 addConstantModel(-1.0)};
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runProgram(compositionProgram(models).dump(),
                         compositionArguments(), results, error))
      << error;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].shape, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(results[0].data,
            (std::vector<double>{0, 1, 13, 24, 105, 106, 17, 28}));

  models[0] = addConstantModel("-inf");
  models[1] = addConstantModel(json::array({"nan", "inf"}));
  ASSERT_TRUE(runProgram(compositionProgram(models).dump(),
                         compositionArguments(), results, error))
      << error;
  EXPECT_TRUE(std::isnan(results[0].data[2]));
  EXPECT_EQ(results[0].data[3], INFINITY);
  EXPECT_EQ(results[0].data[4], -INFINITY);
}

// Tests the errors of compositions and constants, each with the op (and, in
// a model, the model and the request) named.
TEST(ReferenceProgramTest, CompositionErrors) {
  json models = {addConstantModel(1.0), addConstantModel(2.0),
                 addConstantModel(3.0)};
  std::vector<HostTensor> arguments = compositionArguments();
  json bad = compositionProgram(models);
  bad["ops"][0]["attributes"].erase("models");
  EXPECT_NE(programError(bad, arguments)
                .find("op 0 (moe.composition): attribute 'models' must be a "
                      "non-empty array of programs"),
            std::string::npos);
  bad = compositionProgram(json::array({addConstantModel(1.0)}));
  EXPECT_NE(programError(bad, arguments)
                .find("'selector' dimension 1 is 3, expected 1 (the number "
                      "of models)"),
            std::string::npos);
  bad = compositionProgram(models);
  bad["ops"][0]["attributes"]["models"][2] = "math";
  EXPECT_NE(programError(bad, arguments)
                .find("model 2 on request 0: a reference program must be a "
                      "JSON object"),
            std::string::npos);
  bad = compositionProgram(models);
  bad["ops"][0]["attributes"]["models"][1]["values"][2]["shape"] = {3};
  EXPECT_NE(programError(bad, arguments).find("model 1 on request 1: op 1"),
            std::string::npos);
  bad = compositionProgram(models);
  bad["ops"][0]["attributes"]["models"][1]["returns"] = {2, 2};
  EXPECT_NE(programError(bad, arguments).find("returns 2 values, expected 1"),
            std::string::npos);
  bad = compositionProgram(models);
  bad["values"][2]["shape"] = {4, 3};
  EXPECT_NE(programError(bad, arguments)
                .find("model 2 on request 0 returned shape [2], expected [3]"),
            std::string::npos);
  bad = compositionProgram(models);
  bad["ops"][0]["operands"]["inputs"] = 0;
  bad["values"][2]["shape"] = {4, 3};
  EXPECT_NE(programError(bad, arguments).find("argument 0"),
            std::string::npos);
  std::vector<HostTensor> nan = arguments;
  nan[0].data[4] = NAN;
  EXPECT_NE(programError(compositionProgram(models), nan)
                .find("'selector' holds a non-finite value"),
            std::string::npos);

  // Constants: the wrong number of elements, a wrong element, no value.
  bad = compositionProgram(models);
  bad["ops"][0]["attributes"]["models"][0] =
      addConstantModel(json::array({1.0, 2.0, 3.0}));
  EXPECT_NE(programError(bad, arguments)
                .find("op 0 (arith.constant): attribute 'value' must be an "
                      "element (a number, \"nan\", \"inf\" or \"-inf\") or an "
                      "array of 2 of them, got 3"),
            std::string::npos);
  bad["ops"][0]["attributes"]["models"][0] = addConstantModel("NaN");
  EXPECT_NE(programError(bad, arguments).find("attribute 'value'"),
            std::string::npos);
  bad["ops"][0]["attributes"]["models"][0] =
      addConstantModel(json::array({1.0, true}));
  EXPECT_NE(programError(bad, arguments).find("attribute 'value'"),
            std::string::npos);
  bad["ops"][0]["attributes"]["models"][0]["ops"][0]["attributes"].erase(
      "value");
  EXPECT_NE(programError(bad, arguments).find("attribute 'value'"),
            std::string::npos);
}

namespace {

/// A model program over requests of shape [2] taking `weights` weights of
/// shape [2]: x + w0 + w1 + ... (x alone without weights).
json addWeightsModel(int weights) {
  json values = json::array();
  for (int i = 0; i <= weights; ++i)
    values.push_back({{"dtype", "f32"}, {"shape", {2}}});
  json ops = json::array();
  int sum = 0; // the value holding the running sum
  for (int w = 1; w <= weights; ++w) {
    values.push_back({{"dtype", "f32"}, {"shape", {2}}});
    int next = static_cast<int>(values.size()) - 1;
    ops.push_back({{"op", "arith.addf"},
                   {"operands", {{"lhs", sum}, {"rhs", w}}},
                   {"results", {next}},
                   {"attributes", json::object()}});
    sum = next;
  }
  return {{"function", "weighted"},
          {"values", std::move(values)},
          {"ops", std::move(ops)},
          {"returns", {sum}}};
}

/// A composition over R = 4 requests of shape [2] whose models take weights:
/// model 0 one, model 1 none, model 2 two; the weights are arguments 2..4
/// ([2] each), the result value 5.
json weightedCompositionProgram() {
  json values = {{{"dtype", "f32"}, {"shape", {4, 3}}},
                 {{"dtype", "f32"}, {"shape", {4, 2}}}};
  for (int i = 0; i < 4; ++i) {
    json shape = i < 3 ? json::array({2}) : json::array({4, 2});
    values.push_back({{"dtype", "f32"}, {"shape", std::move(shape)}});
  }
  return {{"function", "weighted_composition"},
          {"values", std::move(values)},
          {"ops",
           {{{"op", "moe.composition"},
             {"operands",
              {{"selector", 0}, {"inputs", 1}, {"weights", {2, 3, 4}}}},
             {"results", {5}},
             {"attributes",
              {{"models", {addWeightsModel(1), addWeightsModel(0),
                           addWeightsModel(2)}},
               {"weights_per_model", {1, 0, 2}}}}}}},
          {"returns", {5}}};
}

/// compositionArguments() and the three weights.
std::vector<HostTensor> weightedCompositionArguments() {
  std::vector<HostTensor> arguments = compositionArguments();
  arguments.push_back(f32({2}, {10, 20}));
  arguments.push_back(f32({2}, {100, 200}));
  arguments.push_back(f32({2}, {1000, 2000}));
  return arguments;
}

} // namespace

// Tests a composition whose models take weights: each model gets the request
// and then its own "weights" operands (weights_per_model splits them in model
// order); a model without weights gets the request alone.
TEST(ReferenceProgramTest, CompositionWithWeights) {
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runProgram(weightedCompositionProgram().dump(),
                         weightedCompositionArguments(), results, error))
      << error;
  ASSERT_EQ(results.size(), 1u);
  // Requests choose models 2, 1, 0, 1.
  EXPECT_EQ(results[0].data, (std::vector<double>{1101, 2202, 3, 4, 15, 26,
                                                  7, 8}));
}

// Tests the errors of a composition's weights: the operand's encoding, and
// weights_per_model against the models and the operands.
TEST(ReferenceProgramTest, CompositionWeightsErrors) {
  std::vector<HostTensor> arguments = weightedCompositionArguments();
  json bad = weightedCompositionProgram();
  bad["ops"][0]["attributes"].erase("weights_per_model");
  EXPECT_NE(programError(bad, arguments)
                .find("op 0 (moe.composition): the models take 0 weights in "
                      "all (attribute 'weights_per_model'), the op has 3 "
                      "'weights' operands"),
            std::string::npos);
  bad = weightedCompositionProgram();
  bad["ops"][0]["attributes"]["weights_per_model"] = {1, 0, 1};
  EXPECT_NE(programError(bad, arguments)
                .find("the models take 2 weights in all"),
            std::string::npos);
  bad = weightedCompositionProgram();
  bad["ops"][0]["attributes"]["weights_per_model"] = {1, 2};
  EXPECT_NE(programError(bad, arguments)
                .find("attribute 'weights_per_model' must be an array of 3 "
                      "non-negative integers (one per model)"),
            std::string::npos);
  bad["ops"][0]["attributes"]["weights_per_model"] = {1, -1, 3};
  EXPECT_NE(programError(bad, arguments).find("'weights_per_model'"),
            std::string::npos);
  bad["ops"][0]["attributes"]["weights_per_model"] = {1, 0, 4};
  EXPECT_NE(programError(bad, arguments)
                .find("of at most the 3 weights operands"),
            std::string::npos);
  bad["ops"][0]["attributes"]["weights_per_model"] = "1,0,2";
  EXPECT_NE(programError(bad, arguments).find("'weights_per_model'"),
            std::string::npos);
  // Model 0 given two weights but its program takes one.
  bad = weightedCompositionProgram();
  bad["ops"][0]["attributes"]["weights_per_model"] = {2, 0, 1};
  EXPECT_NE(programError(bad, arguments)
                .find("model 2 on request 0: the program takes 3 arguments, "
                      "got 2"),
            std::string::npos);
  bad = weightedCompositionProgram();
  bad["ops"][0]["operands"]["weights"] = 2;
  EXPECT_NE(programError(bad, arguments)
                .find("operand 'weights' must be an array of value ids"),
            std::string::npos);
  bad["ops"][0]["operands"]["weights"] = {2, 3, 9};
  EXPECT_NE(programError(bad, arguments)
                .find("operand 'weights': value id 9 is out of range"),
            std::string::npos);
  bad["ops"][0]["operands"]["weights"] = {2, 3, 5};
  EXPECT_NE(programError(bad, arguments)
                .find("operand 'weights' uses value 5 before it is defined"),
            std::string::npos);
}

// Tests that compositions nested in models run (the argument passes through
// the one model), and that nesting deeper than the bound is an error, not a
// stack overflow.
TEST(ReferenceProgramTest, NestedCompositions) {
  auto nestedModel = [](json inner) {
    return json{{"function", "nested"},
                {"values",
                 {{{"dtype", "f32"}, {"shape", {2}}},
                  {{"dtype", "f32"}, {"shape", {1, 1}}},
                  {{"dtype", "f32"}, {"shape", {1, 2}}},
                  {{"dtype", "f32"}, {"shape", {1, 2}}}}},
                {"ops",
                 {{{"op", "arith.constant"},
                   {"operands", json::object()},
                   {"results", {1}},
                   {"attributes", {{"value", 0.0}}}},
                  {{"op", "arith.constant"},
                   {"operands", json::object()},
                   {"results", {2}},
                   {"attributes", {{"value", json::array({5.0, 6.0})}}}},
                  {{"op", "moe.composition"},
                   {"operands", {{"selector", 1}, {"inputs", 2}}},
                   {"results", {3}},
                   {"attributes", {{"models", {std::move(inner)}}}}}}},
                {"returns", {0}}};
  };
  // Each level passes its argument through.
  auto levels = [&](int depth) {
    json inner = {{"function", "leaf"},
                  {"values", {{{"dtype", "f32"}, {"shape", {2}}}}},
                  {"ops", json::array()},
                  {"returns", {0}}};
    for (int i = 0; i < depth; ++i)
      inner = nestedModel(inner);
    return compositionProgram(json::array({inner, inner, inner}));
  };
  std::vector<HostTensor> results;
  std::string error;
  ASSERT_TRUE(runProgram(levels(kMaxProgramNesting - 2).dump(),
                         compositionArguments(), results, error))
      << error;
  EXPECT_EQ(results[0].data, compositionArguments()[1].data);
  EXPECT_NE(programError(levels(kMaxProgramNesting), compositionArguments())
                .find("programs nest more than 8 deep"),
            std::string::npos);
}
