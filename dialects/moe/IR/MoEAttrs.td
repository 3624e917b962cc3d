//===- MoEAttrs.td - moe dialect enums and attributes ------*- tablegen -*-===//

#ifndef MOE_IR_MOEATTRS_TD
#define MOE_IR_MOEATTRS_TD

include "moe/IR/MoEBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def MoE_Scoring : I32EnumAttr<"Scoring", "router scoring function", [
    I32EnumAttrCase<"softmax", 0>,
    I32EnumAttrCase<"sigmoid", 1>]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_GroupScore : I32EnumAttr<"GroupScore",
    "how a group of experts is scored in group-limited selection", [
    // DeepSeek-V3: the sum of the group's two largest (biased) scores.
    I32EnumAttrCase<"top2_sum", 0>,
    // DeepSeek-V2 group_limited_greedy: the group's largest score.
    I32EnumAttrCase<"max", 1>]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_Activation : I32EnumAttr<"Activation", "expert FFN activation", [
    I32EnumAttrCase<"silu", 0>,
    I32EnumAttrCase<"gelu", 1>,
    I32EnumAttrCase<"gelu_tanh", 2>,
    I32EnumAttrCase<"relu", 3>]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_WeightLayout : I32EnumAttr<"WeightLayout",
    "how a projection's weight matrix is stored", [
    // [.., in, out]: y = x · W (the layout a GEMM reads without transposition).
    I32EnumAttrCase<"in_out", 0>,
    // [.., out, in]: y = x · Wᵀ (PyTorch nn.Linear / Hugging Face checkpoints).
    I32EnumAttrCase<"out_in", 1>]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_DropPolicy : I32EnumAttr<"DropPolicy",
    "which rows an expert keeps when more than its capacity are routed to it", [
    // The first `capacity` rows in (token, slot) order (Switch / GShard).
    I32EnumAttrCase<"position", 0>,
    // The `capacity` rows of largest routing weight; ties keep the lower (token, slot).
    I32EnumAttrCase<"score", 1>]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_MemoryTier : I32EnumAttr<"MemoryTier", "memory tier of a buffer", [
    I32EnumAttrCase<"sram", 0>,
    I32EnumAttrCase<"hbm", 1>,
    I32EnumAttrCase<"host", 2>]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_ActivationAttr : EnumAttr<MoE_Dialect, MoE_Activation, "activation">;
def MoE_WeightLayoutAttr : EnumAttr<MoE_Dialect, MoE_WeightLayout, "layout">;
def MoE_DropPolicyAttr : EnumAttr<MoE_Dialect, MoE_DropPolicy, "drop_policy">;

//===----------------------------------------------------------------------===//
// #moe.routing
//===----------------------------------------------------------------------===//

def MoE_RoutingAttr : MoE_Attr<"Routing", "routing"> {
  let summary = "how a router turns scores into (weights, indices)";
  let description = [{
    Every routing option of DESIGN §8 in one attribute, shared by `moe.router`,
    `moe.layer` and `moe.chain`:

    * `scoring`: `softmax` or `sigmoid` of the logits, in f32.
    * `top_k`: slots per token (K). With `top_p` it is the upper bound.
    * `renormalize`: divide the chosen weights by their sum (`norm_topk_prob`).
    * `scaling_factor`: multiply the final weights (`routed_scaling_factor`), default 1.
    * `num_groups` / `kept_groups` / `group_score`: group-limited selection. The routed
      experts form `num_groups` equal groups; each group is scored (`top2_sum`: sum of
      its two largest selection scores, DeepSeek-V3; `max`: its largest, DeepSeek-V2), the
      best `kept_groups` are kept, and top-K is taken within them.
    * `top_p`: dynamic experts per token. Sort scores descending and keep the smallest
      prefix whose sum reaches `top_p` (at least 1, at most K); unused slots point at the
      first zero expert with weight 0, so `top_p` needs `zero_experts >= 1`.
    * `zero_experts`, `copy_experts`, `constant_experts`: null experts (MoE++, AdaMoE).
      They are the last columns of the logits, in that order, and take router slots but no
      GEMM: zero → 0, copy → x, constant j → α₁x + α₂vⱼ with [α₁, α₂] = softmax(Wⱼx).

    A selection bias (aux-loss-free balancing) is an operand of the ops, not part of this
    attribute: it shifts the scores used to *select*, never the weights.

    Example (DeepSeek-V3):
    `#moe.routing<scoring = sigmoid, top_k = 8, renormalize = true, scaling_factor = 2.5, num_groups = 8, kept_groups = 4>`
  }];
  let parameters = (ins
    EnumParameter<MoE_Scoring>:$scoring,
    "int64_t":$top_k,
    DefaultValuedParameter<"bool", "false">:$renormalize,
    OptionalParameter<"::mlir::FloatAttr">:$scaling_factor,
    DefaultValuedParameter<"int64_t", "1">:$num_groups,
    OptionalParameter<"std::optional<int64_t>">:$kept_groups,
    DefaultValuedParameter<"::mlir::moe::GroupScore",
                           "::mlir::moe::GroupScore::top2_sum">:$group_score,
    OptionalParameter<"::mlir::FloatAttr">:$top_p,
    DefaultValuedParameter<"int64_t", "0">:$zero_experts,
    DefaultValuedParameter<"int64_t", "0">:$copy_experts,
    DefaultValuedParameter<"int64_t", "0">:$constant_experts
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of null (zero + copy + constant) experts.
    int64_t getNumNullExperts() const {
      return getZeroExperts() + getCopyExperts() + getConstantExperts();
    }
    /// `scaling_factor`, 1 when absent.
    double getScale() const;
    /// Number of groups whose experts stay selectable.
    int64_t getNumKeptGroups() const {
      return getKeptGroups() ? *getKeptGroups() : getNumGroups();
    }
    /// Whether selection is restricted to a subset of groups.
    bool isGroupLimited() const { return getNumKeptGroups() < getNumGroups(); }
    /// Checks the parameters against `numExperts` (logit columns, null experts
    /// included); reports through `emitError`.
    ::mlir::LogicalResult verifyAgainst(
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
        int64_t numExperts) const;
  }];
}

//===----------------------------------------------------------------------===//
// #moe.parallel
//===----------------------------------------------------------------------===//

def MoE_ParallelAttr : MoE_Attr<"Parallel", "parallel"> {
  let summary = "a folded parallel plan: attention and MoE groupings of one device set";
  let description = [{
    MoE parallel folding: attention layers are split `tp × cp × dp × pp` and MoE layers
    `etp × ep × edp × pp` over the same devices, so
    `world = tp·cp·dp·pp = etp·ep·edp·pp`. Keys left out are 1.

    `#moe.parallel<attn = {tp = 2, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 8, edp = 1}>`
  }];
  let parameters = (ins
    "int64_t":$tp, "int64_t":$cp, "int64_t":$dp, "int64_t":$pp,
    "int64_t":$etp, "int64_t":$ep, "int64_t":$edp);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of devices the plan spans.
    int64_t getWorldSize() const { return getTp() * getCp() * getDp() * getPp(); }
  }];
}

//===----------------------------------------------------------------------===//
// #moe.tier
//===----------------------------------------------------------------------===//

def MoE_TierAttr : MoE_Attr<"Tier", "tier"> {
  let summary = "where a buffer or a set of weights lives: sram, hbm or host";
  let description = [{
    `#moe.tier<sram>` (on-chip), `#moe.tier<hbm>` (device memory) or `#moe.tier<host>`
    (host memory, streamed up before use).
  }];
  let parameters = (ins EnumParameter<MoE_MemoryTier>:$tier);
  let assemblyFormat = "`<` $tier `>`";
}

#endif // MOE_IR_MOEATTRS_TD
