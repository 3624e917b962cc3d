//===- ReferenceDump.cpp - random layer inputs + reference output as JSON -===//
//
// moert-reference-dump FAMILY SEED OUT.json
//
// Writes the inputs of one small moe.layer of FAMILY (mixtral, qwen2_moe,
// deepseek_v3), drawn from SEED, and the reference's output, for
// torch_check.py to recompute with an independent PyTorch implementation.
// Weights use the Hugging Face (out_in) layout, as torch_check reads them.
//
//===----------------------------------------------------------------------===//

#include "Reference.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

using namespace moert::reference;
using nlohmann::json;

namespace {
/// A family's shapes and routing, at test size.
struct FamilyConfig {
  int64_t tokens = 6, hidden = 8, intermediate = 4, experts = 4;
  int64_t sharedIntermediate = 0; ///< 0: no shared expert
  bool sharedSigmoidGate = false; ///< Qwen2-MoE's shared_expert_gate
  bool bias = false;              ///< DeepSeek-V3's e_score_correction_bias
  Routing routing;
};

bool familyConfig(const std::string &family, FamilyConfig &config) {
  if (family == "mixtral") {
    config.intermediate = 12;
    config.routing.topK = 2;
    config.routing.renormalize = true;
    return true;
  }
  if (family == "qwen2_moe") {
    config.intermediate = 6;
    config.experts = 6;
    config.sharedIntermediate = 16;
    config.sharedSigmoidGate = true;
    config.routing.topK = 3; // norm_topk_prob = false
    return true;
  }
  if (family == "deepseek_v3") {
    config.experts = 16;
    config.sharedIntermediate = 2 * config.intermediate; // n_shared_experts 2
    config.bias = true;
    config.routing.scoring = Scoring::sigmoid;
    config.routing.topK = 4;
    config.routing.numGroups = 4;
    config.routing.keptGroups = 2;
    config.routing.renormalize = true;
    config.routing.scalingFactor = 2.5;
    return true;
  }
  return false;
}

json tensorJson(const HostTensor &tensor) {
  return {{"shape", tensor.shape}, {"data", tensor.data}};
}
} // namespace

int main(int argc, char **argv) {
  if (argc != 4) {
    std::cerr << "usage: moert-reference-dump mixtral|qwen2_moe|deepseek_v3 "
                 "SEED OUT.json\n";
    return 2;
  }
  FamilyConfig config;
  if (!familyConfig(argv[1], config)) {
    std::cerr << "moert-reference-dump: unknown family '" << argv[1] << "'\n";
    return 2;
  }
  std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
  auto random = [&](std::vector<int64_t> shape, double scale) {
    std::uniform_real_distribution<double> uniform(-scale, scale);
    HostTensor tensor = zeroTensor("f32", std::move(shape));
    for (double &value : tensor.data)
      value = uniform(rng);
    return tensor;
  };
  int64_t t = config.tokens, h = config.hidden, f = config.intermediate,
          e = config.experts, s = config.sharedIntermediate;
  json tensors;
  HostTensor tokens = random({t, h}, 1.0), router = random({e, h}, 1.0),
             gate = random({e, f, h}, 0.5), up = random({e, f, h}, 0.5),
             down = random({e, h, f}, 0.5);
  HostTensor bias = random({e}, 0.1), sharedGate = random({s, h}, 0.5),
             sharedUp = random({s, h}, 0.5), sharedDown = random({h, s}, 0.5),
             sharedSigmoid = random({h}, 1.0);
  BlockOperands ops;
  ops.tokens = &tokens;
  ops.routerWeight = &router;
  ops.gateWeight = &gate;
  ops.upWeight = &up;
  ops.downWeight = &down;
  for (auto [name, tensor] : {std::pair{"tokens", &tokens}, {"router", &router},
                              {"gate", &gate}, {"up", &up}, {"down", &down}})
    tensors[name] = tensorJson(*tensor);
  if (config.bias) {
    ops.bias = &bias;
    tensors["bias"] = tensorJson(bias);
  }
  if (s > 0) {
    ops.sharedGateWeight = &sharedGate;
    ops.sharedUpWeight = &sharedUp;
    ops.sharedDownWeight = &sharedDown;
    tensors["shared_gate"] = tensorJson(sharedGate);
    tensors["shared_up"] = tensorJson(sharedUp);
    tensors["shared_down"] = tensorJson(sharedDown);
  }
  if (config.sharedSigmoidGate) {
    ops.sharedSigmoidGate = &sharedSigmoid;
    tensors["shared_sigmoid_gate"] = tensorJson(sharedSigmoid);
  }

  BlockAttributes attributes;
  attributes.routing = config.routing;
  attributes.layout = WeightLayout::outIn;
  HostTensor output;
  std::string error;
  if (!layer(ops, attributes, output, error)) {
    std::cerr << "moert-reference-dump: " << error << "\n";
    return 1;
  }
  const Routing &routing = config.routing;
  json dump = {{"family", argv[1]},
               {"seed", std::strtoull(argv[2], nullptr, 10)},
               {"config",
                {{"top_k", routing.topK},
                 {"scoring", routing.scoring == Scoring::softmax ? "softmax"
                                                                  : "sigmoid"},
                 {"renormalize", routing.renormalize},
                 {"scaling_factor", routing.scalingFactor},
                 {"num_groups", routing.numGroups},
                 {"kept_groups", routing.keptGroups.value_or(routing.numGroups)},
                 {"activation", "silu"},
                 {"layout", "out_in"}}},
               {"tensors", tensors},
               {"output", tensorJson(output)}};
  std::ofstream out(argv[3]);
  out << dump.dump() << "\n";
  if (!out) {
    std::cerr << "moert-reference-dump: cannot write " << argv[3] << "\n";
    return 1;
  }
  return 0;
}
