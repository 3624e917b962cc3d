//===- Layer.cpp - reference of moe.layer and moe.chain -------------------===//
//
// Composed from the per-op references exactly as the op descriptions state
// (and as moe-decompose expands them): the layer is
// combine(experts(dispatch(x, router(x·Wr)))) + null_experts(x) + shared(x).
//
//===----------------------------------------------------------------------===//

#include "FFN.h"
#include "Reference.h"
#include "TensorChecks.h"

namespace moert::reference {

/// logits [T, E] = tokens · router, router [H, E] (in_out) or [E, H] (out_in).
static HostTensor routerLogits(const HostTensor &tokens,
                               const HostTensor &router, WeightLayout layout) {
  bool inOut = layout == WeightLayout::inOut;
  int64_t numTokens = tokens.shape[0], hidden = tokens.shape[1];
  int64_t numExperts = router.shape[inOut ? 1 : 0];
  HostTensor logits = zeroTensor("f32", {numTokens, numExperts});
  for (int64_t t = 0; t < numTokens; ++t)
    for (int64_t e = 0; e < numExperts; ++e) {
      double sum = 0.0;
      for (int64_t h = 0; h < hidden; ++h)
        sum += tokens.data[t * hidden + h] *
               router.data[inOut ? h * numExperts + e : e * hidden + h];
      logits.data[t * numExperts + e] = sum;
    }
  return logits;
}

/// Checks the shared-expert operands of a block; sets `present`.
static bool checkSharedOperands(const BlockOperands &operands, int64_t hidden,
                                WeightLayout layout, bool &present,
                                std::string &error) {
  present = operands.sharedUpWeight || operands.sharedDownWeight;
  if (present && !(operands.sharedUpWeight && operands.sharedDownWeight)) {
    error = "'shared_up_weight' and 'shared_down_weight' must be given "
            "together";
    return false;
  }
  if (!present &&
      (operands.sharedGateWeight || operands.sharedSigmoidGate)) {
    error = "shared expert gates are given without 'shared_up_weight' and "
            "'shared_down_weight'";
    return false;
  }
  if (!present)
    return true;
  int64_t unusedExperts, unusedIntermediate;
  if (!checkFFNWeights(operands.sharedGateWeight, *operands.sharedUpWeight,
                       *operands.sharedDownWeight, layout, /*perExpert=*/false,
                       hidden, unusedExperts, unusedIntermediate, "shared_",
                       error))
    return false;
  const HostTensor *gate = operands.sharedSigmoidGate;
  return !gate ||
         (checkFloat(*gate, "shared_sigmoid_gate", 1, "[H]", error) &&
          checkDim(*gate, "shared_sigmoid_gate", 0, hidden, "the hidden size",
                   error));
}

bool layer(const BlockOperands &operands, const BlockAttributes &attributes,
           HostTensor &result, std::string &error) {
  if (!operands.tokens || !operands.routerWeight || !operands.upWeight ||
      !operands.downWeight) {
    error = "a layer needs 'tokens', 'router_weight', 'up_weight' and "
            "'down_weight'";
    return false;
  }
  const HostTensor &tokens = *operands.tokens;
  const HostTensor &routerWeight = *operands.routerWeight;
  bool inOut = attributes.layout == WeightLayout::inOut;
  if (!checkFloat(tokens, "tokens", 2, "[T, H]", error) ||
      !checkFloat(routerWeight, "router_weight", 2, inOut ? "[H, E]" : "[E, H]",
                  error) ||
      !checkDim(routerWeight, "router_weight", inOut ? 0 : 1, tokens.shape[1],
                "the hidden size", error))
    return false;
  int64_t hidden = tokens.shape[1];
  int64_t numExperts = routerWeight.shape[inOut ? 1 : 0];
  int64_t weightExperts, intermediate;
  if (!checkFFNWeights(operands.gateWeight, *operands.upWeight,
                       *operands.downWeight, attributes.layout,
                       /*perExpert=*/true, hidden, weightExperts, intermediate,
                       "", error))
    return false;
  const Routing &routing = attributes.routing;
  int64_t routedExperts = numExperts - routing.numNullExperts();
  if (weightExperts != routedExperts) {
    error = "'up_weight' has " + std::to_string(weightExperts) +
            " experts, expected " + std::to_string(routedExperts) +
            " (the router's experts minus its null experts)";
    return false;
  }
  bool hasShared;
  if (!checkSharedOperands(operands, hidden, attributes.layout, hasShared,
                           error))
    return false;
  if (routing.numNullExperts() == 0 &&
      (operands.constantVectors || operands.constantMix)) {
    error = "'constant_vectors'/'constant_mix' are given but there are no "
            "constant experts";
    return false;
  }

  HostTensor weights, indices, rows, offsets, sources, expertOutputs, out;
  HostTensor logits = routerLogits(tokens, routerWeight, attributes.layout);
  bool byScore = attributes.capacity &&
                 attributes.capacity->policy == DropPolicy::score;
  if (!router(logits, operands.bias, routing, weights, indices, error) ||
      !dispatch(tokens, indices, byScore ? &weights : nullptr, routedExperts,
                attributes.capacity, rows, offsets, sources, error) ||
      !experts(rows, offsets, operands.gateWeight, *operands.upWeight,
               *operands.downWeight, attributes.activation, attributes.layout,
               expertOutputs, error) ||
      !combine(expertOutputs, sources, weights, out, error))
    return false;
  out.dtype = tokens.dtype;

  std::vector<HostTensor> addends;
  if (routing.numNullExperts() > 0) {
    NullExpertCounts counts{routedExperts, routing.zeroExperts,
                            routing.copyExperts, routing.constantExperts};
    addends.emplace_back();
    if (!nullExperts(tokens, indices, weights, operands.constantVectors,
                     operands.constantMix, counts, addends.back(), error))
      return false;
  }
  if (hasShared) {
    addends.emplace_back();
    if (!sharedExperts(tokens, operands.sharedGateWeight,
                       *operands.sharedUpWeight, *operands.sharedDownWeight,
                       operands.sharedSigmoidGate, attributes.activation,
                       attributes.layout, addends.back(), error))
      return false;
  }
  for (const HostTensor &addend : addends)
    for (size_t i = 0; i < out.data.size(); ++i)
      out.data[i] += addend.data[i];
  result = std::move(out);
  return true;
}

/// Slice `index` of the leading dimension, that dimension dropped.
static HostTensor sliceLeading(const HostTensor &tensor, int64_t index) {
  std::vector<int64_t> shape(tensor.shape.begin() + 1, tensor.shape.end());
  int64_t size = elementCount(shape);
  HostTensor slice{tensor.dtype, shape, {}};
  slice.data.assign(tensor.data.begin() + index * size,
                    tensor.data.begin() + (index + 1) * size);
  return slice;
}

bool chain(const BlockOperands &operands, const BlockAttributes &attributes,
           int64_t iterations, HostTensor &result, std::string &error) {
  if (iterations < 1) {
    error = "iterations must be at least 1, got " + std::to_string(iterations);
    return false;
  }
  if (attributes.capacity) {
    error = "a chain is dropless: no capacity";
    return false;
  }
  if (!operands.tokens || !operands.routerWeight) {
    error = "a chain needs 'tokens' and 'router_weight'";
    return false;
  }
  bool inOut = attributes.layout == WeightLayout::inOut;
  if (!checkFloat(*operands.tokens, "tokens", 2, "[T, H]", error) ||
      !checkFloat(*operands.routerWeight, "router_weight", 3,
                  inOut ? "[C, H, E]" : "[C, E, H]", error) ||
      !checkDim(*operands.routerWeight, "router_weight", 0, iterations,
                "iterations", error))
    return false;
  if (operands.bias &&
      (!checkFloat(*operands.bias, "bias", 2, "[C, E]", error) ||
       !checkDim(*operands.bias, "bias", 0, iterations, "iterations", error)))
    return false;

  HostTensor state = *operands.tokens;
  for (int64_t t = 0; t < iterations; ++t) {
    HostTensor router = sliceLeading(*operands.routerWeight, t);
    HostTensor bias =
        operands.bias ? sliceLeading(*operands.bias, t) : HostTensor{};
    BlockOperands iteration = operands;
    iteration.tokens = &state;
    iteration.routerWeight = &router;
    iteration.bias = operands.bias ? &bias : nullptr;
    HostTensor update;
    if (!layer(iteration, attributes, update, error)) {
      error = "iteration " + std::to_string(t) + ": " + error;
      return false;
    }
    for (size_t i = 0; i < state.data.size(); ++i)
      state.data[i] += update.data[i];
  }
  result = std::move(state);
  return true;
}

} // namespace moert::reference
