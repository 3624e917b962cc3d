//===- Reference.h - plain C++ reference of every executable moe op -*- C++ -*-===//
//
// One function per op of dialects/moe/IR/MoEOps.td, following the op
// descriptions there (and DESIGN §8) literally, with plain loops and double
// accumulation. Independent of the compiler: no MLIR, no LLVM, no sharing of
// code with the lowerings it checks.
//
// Every function validates its operands and returns false with a message in
// `error` on a bad input; it never asserts or aborts. Results are written only
// on success. Result dtypes: float results take the dtype of the op's main
// float operand, index results that of its index operand (router: "i32");
// the program interpreter re-labels them with the dtypes its program declares.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_REFERENCE_REFERENCE_H
#define MOERT_REFERENCE_REFERENCE_H

#include "HostTensor.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace moert::reference {

enum class Scoring { softmax, sigmoid };
enum class GroupScore { top2Sum, max };
enum class Activation { silu, gelu, geluTanh, relu };
/// inOut: [.., in, out], y = x·W. outIn: [.., out, in], y = x·Wᵀ (HF).
enum class WeightLayout { inOut, outIn };
enum class DropPolicy { position, score };

/// #moe.routing, with the attribute's defaults.
struct Routing {
  Scoring scoring = Scoring::softmax;
  int64_t topK = 1;
  bool renormalize = false;
  double scalingFactor = 1.0;
  int64_t numGroups = 1;
  std::optional<int64_t> keptGroups; ///< absent: all groups
  GroupScore groupScore = GroupScore::top2Sum;
  std::optional<double> topP;
  int64_t zeroExperts = 0;
  int64_t copyExperts = 0;
  int64_t constantExperts = 0;

  int64_t numNullExperts() const {
    return zeroExperts + copyExperts + constantExperts;
  }
};

/// Capacity mode of moe.dispatch / moe.layer.
struct CapacityMode {
  int64_t capacity = 1;
  DropPolicy policy = DropPolicy::position;
};

/// moe.null_experts' numbering: null experts start at `first`.
struct NullExpertCounts {
  int64_t first = 0;
  int64_t zero = 0;
  int64_t copy = 0;
  int64_t constant = 0;
};

/// The operands of moe.layer / moe.chain; optional ones may be null.
struct BlockOperands {
  const HostTensor *tokens = nullptr;
  const HostTensor *routerWeight = nullptr;
  const HostTensor *bias = nullptr;
  const HostTensor *gateWeight = nullptr;
  const HostTensor *upWeight = nullptr;
  const HostTensor *downWeight = nullptr;
  const HostTensor *sharedGateWeight = nullptr;
  const HostTensor *sharedUpWeight = nullptr;
  const HostTensor *sharedDownWeight = nullptr;
  const HostTensor *sharedSigmoidGate = nullptr;
  const HostTensor *constantVectors = nullptr;
  const HostTensor *constantMix = nullptr;
};

/// The attributes of moe.layer (moe.chain: no capacity, plus iterations).
struct BlockAttributes {
  Routing routing;
  Activation activation = Activation::silu;
  WeightLayout layout = WeightLayout::inOut;
  std::optional<CapacityMode> capacity;
};

/// The operands of moe.union_attention.
struct UnionAttentionOperands {
  const HostTensor *tokens = nullptr;   ///< [B, S, D]
  const HostTensor *gate = nullptr;     ///< [D, N]
  const HostTensor *gateBias = nullptr; ///< [N]
  const HostTensor *query = nullptr;    ///< [N, D, Dh]
  const HostTensor *key = nullptr;      ///< [N, D, Dh]
  const HostTensor *value = nullptr;    ///< [N, D, Dh]
  const HostTensor *output = nullptr;   ///< [N, Dh, D]
};

/// The operands of moe.union_ffn.
struct UnionFFNOperands {
  const HostTensor *tokens = nullptr;     ///< [B, S, D]
  const HostTensor *router = nullptr;     ///< [D, N]
  const HostTensor *routerBias = nullptr; ///< [N]
  const HostTensor *gateWeight = nullptr; ///< [D, F], optional
  const HostTensor *upWeight = nullptr;   ///< [D, F]
  const HostTensor *downWeight = nullptr; ///< [F, D]
};

/// act(x) for the expert FFN activations (gelu: the erf form).
double activate(Activation activation, double x);

/// moe.router: logits [T, E], optional bias [E] -> weights [T, K] (dtype of
/// logits), indices [T, K] ("i32").
bool router(const HostTensor &logits, const HostTensor *bias,
            const Routing &routing, HostTensor &weights, HostTensor &indices,
            std::string &error);

/// moe.dispatch: tokens [T, H], indices [T, K], weights [T, K] (exactly when
/// the policy is `score`) -> rows [R, H], offsets [E + 1], sources [R].
bool dispatch(const HostTensor &tokens, const HostTensor &indices,
              const HostTensor *weights, int64_t numExperts,
              const std::optional<CapacityMode> &capacity, HostTensor &rows,
              HostTensor &offsets, HostTensor &sources, std::string &error);

/// moe.experts: rows [R, H], offsets [E + 1], gate (optional) / up / down in
/// `layout` -> [R, H].
bool experts(const HostTensor &rows, const HostTensor &offsets,
             const HostTensor *gateWeight, const HostTensor &upWeight,
             const HostTensor &downWeight, Activation activation,
             WeightLayout layout, HostTensor &result, std::string &error);

/// moe.combine: expert_outputs [R, H], sources [R], weights [T, K] -> [T, H].
bool combine(const HostTensor &expertOutputs, const HostTensor &sources,
             const HostTensor &weights, HostTensor &result,
             std::string &error);

/// moe.null_experts: tokens [T, H], indices / weights [T, K], constants
/// ([Nc, H], [Nc, 2, H]) exactly when counts.constant > 0 -> [T, H].
bool nullExperts(const HostTensor &tokens, const HostTensor &indices,
                 const HostTensor &weights, const HostTensor *constantVectors,
                 const HostTensor *constantMix, const NullExpertCounts &counts,
                 HostTensor &result, std::string &error);

/// moe.shared_experts: tokens [T, H], one FFN in `layout`, optional sigmoid
/// gate [H] -> [T, H].
bool sharedExperts(const HostTensor &tokens, const HostTensor *gateWeight,
                   const HostTensor &upWeight, const HostTensor &downWeight,
                   const HostTensor *sigmoidGate, Activation activation,
                   WeightLayout layout, HostTensor &result,
                   std::string &error);

/// moe.layer: router(x·Wr) + dispatch + experts + combine + null experts +
/// shared experts -> [T, H].
bool layer(const BlockOperands &operands, const BlockAttributes &attributes,
           HostTensor &result, std::string &error);

/// moe.chain: x_t = x_{t-1} + layer_t(x_{t-1}), t = 1..iterations, router
/// slice t-1 of [C, H, E] / [C, E, H] (bias [C, E]). `attributes.capacity`
/// must be absent (chains are dropless).
bool chain(const BlockOperands &operands, const BlockAttributes &attributes,
           int64_t iterations, HostTensor &result, std::string &error);

/// moe.union_attention -> [B, S, D].
bool unionAttention(const UnionAttentionOperands &operands, int64_t topK,
                    int64_t capacity, double ropeTheta, HostTensor &result,
                    std::string &error);

/// moe.union_ffn -> [B, S, D]; capacity defaults to floor(S / 2).
bool unionFFN(const UnionFFNOperands &operands, int64_t numExperts,
              std::optional<int64_t> capacity, Activation activation,
              HostTensor &result, std::string &error);

/// Runs model `model` of a composition on one request (`request`, the
/// request's slice of the inputs) into `result`; the model's weights, if it
/// takes any, are bound by the callback.
using RunModel = std::function<bool(int64_t model, const HostTensor &request,
                                    HostTensor &result, std::string &error)>;

/// moe.composition: selector [R, M] (finite: NaN cannot be ranked), inputs
/// [R, ...] -> [R, requestResultShape...] (dtype of inputs) with result[r] =
/// model m (run by `runModel`) of inputs[r], m = argmax selector[r] (ties to
/// the lower index). Only the chosen model runs for a request; it must return
/// `requestResultShape`.
bool composition(const HostTensor &selector, const HostTensor &inputs,
                 int64_t numModels,
                 const std::vector<int64_t> &requestResultShape,
                 const RunModel &runModel, HostTensor &result,
                 std::string &error);

} // namespace moert::reference

#endif // MOERT_REFERENCE_REFERENCE_H
