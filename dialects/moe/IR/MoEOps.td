//===- MoEOps.td - moe dialect operations ------------------*- tablegen -*-===//

#ifndef MOE_IR_MOEOPS_TD
#define MOE_IR_MOEOPS_TD

include "moe/IR/MoEBase.td"
include "moe/IR/MoEAttrs.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"

def MoE_FloatTensor : RankedTensorOf<[BF16, F16, F32]>;
def MoE_IndexTensor : RankedTensorOf<[I32, I64]>;

//===----------------------------------------------------------------------===//
// moe.router
//===----------------------------------------------------------------------===//

def MoE_RouterOp : MoE_Op<"router", [Pure]> {
  let summary = "scores logits and selects the experts of every token";
  let description = [{
    `logits`: `[T, E]` (E counts null experts too). Optional `bias`: `[E]` selection bias.
    Results: `weights` `[T, K]` (float) and `indices` `[T, K]` (i32/i64).

    Scores `s = softmax(logits)` or `sigmoid(logits)` in f32. Selection ranks
    `s + bias` (group-limited first when `num_groups > kept_groups`), descending, ties to
    the lower index; slot k of a token holds its k-th choice. Weights are the *unbiased*
    `s` of the chosen experts, divided by their sum when `renormalize`, times
    `scaling_factor`. With `top_p`, slots after the kept prefix hold the first zero
    expert and weight 0. See `#moe.routing` for every option.

    ```mlir
    %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, renormalize = true>
        : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$logits,
                       Optional<MoE_FloatTensor>:$bias,
                       MoE_RoutingAttr:$routing);
  let results = (outs MoE_FloatTensor:$weights, MoE_IndexTensor:$indices);
  let assemblyFormat = [{
    $logits (`bias` $bias^)? `routing` $routing attr-dict `:` type($logits)
    (`,` type($bias)^)? `->` type($weights) `,` type($indices)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

def MoE_DispatchOp : MoE_Op<"dispatch", [Pure]> {
  let summary = "permutes tokens into expert-sorted rows";
  let description = [{
    `tokens` `[T, H]`, `indices` `[T, K]`. Results: `rows` `[R, H]`, `offsets` `[E + 1]`
    and `sources` `[R]`, where E = `num_experts` (routed experts only: indices outside
    `[0, E)` are null-expert slots and are not dispatched).

    Expert e's rows are `rows[offsets[e] .. offsets[e+1])`, in ascending (token, slot)
    order; `offsets[0] = 0` and `offsets[E]` is the number of rows in use. `sources[r]`
    is `t·K + k` for the slot that row r came from, and -1 for unused rows (which are 0).

    * Dropless (no `capacity`): R = T·K, nothing is dropped.
    * Capacity mode (`capacity C`, `drop position|score`): every expert keeps at most C
      rows, R = min(T·K, E·C). `position` keeps the first C in (token, slot) order;
      `score` keeps the C of largest routing weight (`weights` operand, `[T, K]`), ties
      to the lower (token, slot). Kept rows stay in (token, slot) order.

    ```mlir
    %rows, %offsets, %sources = moe.dispatch %x, %idx experts 8
        : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$tokens,
                       MoE_IndexTensor:$indices,
                       Optional<MoE_FloatTensor>:$weights,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$capacity,
                       OptionalAttr<MoE_DropPolicyAttr>:$drop_policy);
  let results = (outs MoE_FloatTensor:$rows, MoE_IndexTensor:$offsets,
                      MoE_IndexTensor:$sources);
  let assemblyFormat = [{
    $tokens `,` $indices (`weights` $weights^)? `experts` $num_experts
    (`capacity` $capacity^)? (`drop` `` $drop_policy^)? attr-dict `:` type($tokens) `,`
    type($indices) (`,` type($weights)^)? `->` type($rows) `,` type($offsets) `,`
    type($sources)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

def MoE_ExpertsOp : MoE_Op<"experts", [Pure]> {
  let summary = "grouped expert FFN over expert-sorted rows";
  let description = [{
    `rows` `[R, H]`, `offsets` `[E + 1]` (as produced by `moe.dispatch`). Weights, with
    `layout in_out`: `gate`/`up` `[E, H, F]`, `down` `[E, F, H]`; with `layout out_in`
    (Hugging Face): `gate`/`up` `[E, F, H]`, `down` `[E, H, F]`. Result `[R, H]`.

    Row r with `offsets[e] <= r < offsets[e+1]` gets, with a `gate` weight (gated,
    e.g. SwiGLU for `silu`): `down_e(act(gate_e·x) ⊙ up_e·x)`; without: `down_e(act(up_e·x))`.
    Rows at or past `offsets[E]` are 0. Experts with no rows are legal and cost nothing.

    ```mlir
    %y = moe.experts %rows, %offsets gate %wg up %wu down %wd activation silu layout in_out
        : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<8x64x128xf32>,
           tensor<8x128x64xf32>) -> tensor<32x64xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$rows,
                       MoE_IndexTensor:$offsets,
                       Optional<MoE_FloatTensor>:$gate_weight,
                       MoE_FloatTensor:$up_weight,
                       MoE_FloatTensor:$down_weight,
                       MoE_ActivationAttr:$activation,
                       MoE_WeightLayoutAttr:$layout);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $rows `,` $offsets (`gate` $gate_weight^)? `up` $up_weight `down` $down_weight
    `activation` `` $activation `layout` `` $layout attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.grouped_matmul
//===----------------------------------------------------------------------===//

def MoE_GroupedFloat : AnyTypeOf<[RankedTensorOf<[BF16, F16, F32]>,
                                  MemRefRankOf<[BF16, F16, F32], [2, 3]>]>;
def MoE_GroupedIndex : AnyTypeOf<[RankedTensorOf<[I32, I64]>,
                                  MemRefRankOf<[I32, I64], [1]>]>;

def MoE_GroupedMatmulOp : MoE_Op<"grouped_matmul",
    [DestinationStyleOpInterface, AttrSizedOperandSegments]> {
  let summary = "one GEMM per expert over its run of expert-sorted rows";
  let description = [{
    The expert FFN's building block on the GPU path (`convert-moe-to-parallel-linalg`
    emits it for `moe.experts` where tensor cores apply, and for the router logits
    GEMM as a single group; `convert-moe-to-gpu` turns it into a tiled kernel;
    `convert-grouped-matmul-to-linalg` computes it on the CPU). Destination style,
    on tensors or on memrefs.

    `rows` `[R, K]`, `offsets` `[E + 1]` (as produced by `moe.dispatch`), `weight`
    `[E, N, K]` (each expert's matrix stored `[out, in]`, K contiguous: the `out_in`
    layout), optional `gate` of the same shape with an `activation`, `init` `[R, N]`
    whose element type is that of `rows` or f32 (f32 outputs keep the
    accumulators unrounded, as the router's f32 logits need).
    For each row `r` with `offsets[e] <= r < offsets[e+1]`, with f32 accumulation and
    the sums (after the activation) converted to the element type of `init` at the
    end:

    * without `gate`: `out[r, n] = Σ_k rows[r, k]·weight[e, n, k]`;
    * with `gate`: `out[r, n] = act(Σ_k rows[r, k]·gate[e, n, k]) · Σ_k rows[r, k]·weight[e, n, k]`
      (SwiGLU for `silu`).

    Rows outside `[offsets[0], offsets[E])` keep `init`.

    With `gather %sources slots S` (what `moe-fuse` makes of a `moe.dispatch`
    feeding the op), `rows` is the token matrix `[T, K]` and the op's row `r` is
    `rows[sources[r] / S]`, or zero where `sources[r] < 0`: `sources` `[R]` are the
    dispatch's (token, slot) sources and S its slots per token. R is then the size of
    `sources`, and the permuted copy of the tokens is never made.

    ```mlir
    %h = moe.grouped_matmul %rows, %offsets weight %up gate %gate activation silu
        outs(%zeros) : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16>
        gate tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
    // The same with the token rows read through the dispatch's sources (K = 2).
    %h2 = moe.grouped_matmul %x gather %sources slots 2, %offsets weight %up
        gate %gate activation silu outs(%zeros)
        : tensor<128x64xbf16> gather tensor<256xi32>, tensor<9xi64>,
          tensor<8x128x64xbf16> gate tensor<8x128x64xbf16>
          outs tensor<256x128xbf16> -> tensor<256x128xbf16>
    // Router logits [T, E] = x · W_r^T in f32: one group, offsets = [0, T].
    %logits = moe.grouped_matmul %x, %whole weight %router outs(%zeros_f32)
        : tensor<64x256xbf16>, tensor<2xi64>, tensor<1x8x256xbf16>
        outs tensor<64x8xf32> -> tensor<64x8xf32>
    ```
  }];
  let arguments = (ins MoE_GroupedFloat:$rows,
                       Optional<MoE_GroupedIndex>:$sources,
                       MoE_GroupedIndex:$offsets,
                       MoE_GroupedFloat:$weight,
                       Optional<MoE_GroupedFloat>:$gate,
                       MoE_GroupedFloat:$init,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$slots,
                       OptionalAttr<MoE_ActivationAttr>:$activation);
  let results = (outs Optional<AnyRankedTensor>:$result);
  let assemblyFormat = [{
    $rows (`gather` $sources^ `slots` $slots)? `,` $offsets `weight` $weight
    (`gate` $gate^)? (`activation` `` $activation^)? `outs` `(` $init `)` attr-dict
    `:` type($rows) (`gather` type($sources)^)? `,` type($offsets) `,`
    type($weight) (`gate` type($gate)^)? `outs` type($init) (`->` type($result)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() { return getInitMutable(); }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.fused_router
//===----------------------------------------------------------------------===//

def MoE_RouterFloat : AnyTypeOf<[RankedTensorOf<[BF16, F16, F32]>,
                                 MemRefOf<[BF16, F16, F32]>]>;
def MoE_SlotIndex : AnyTypeOf<[RankedTensorOf<[I32, I64]>,
                               MemRefRankOf<[I32, I64], [2]>]>;

def MoE_FusedRouterOp : MoE_Op<"fused_router",
    [DestinationStyleOpInterface]> {
  let summary = "the router logits GEMM, scoring and top-k as one operation";
  let description = [{
    `moe.router` of the logits `tokens · weightᵀ`, computed in one kernel
    (what `moe-fuse` makes of a router whose logits nothing else reads): the
    `[T, E]` f32 logits never reach memory as a tensor of their own.

    `tokens` `[T, H]`, `weight` `[E, H]` (the router weight in the `out_in`
    layout, the element type of `tokens`), optional `bias` `[E]`, and the
    destinations `weights_init` `[T, K]` (float) and `indices_init` `[T, K]`
    (i32/i64), K = `top_k`. With `logits[t, e] = Σ_h tokens[t, h]·weight[e, h]`
    accumulated in f32, the results are those of
    `moe.router logits (bias)? routing <...>`, written over the destinations
    (their contents are not read). Destination style, on tensors or on
    memrefs.

    `convert-moe-to-gpu` lowers it to one tensor-core kernel (the GEMM split
    along H over the multiprocessors, then one warp per token scores and
    selects); elsewhere it is unfused back into the GEMM and the router.

    ```mlir
    %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2>
        outs(%w0, %i0) : tensor<64x256xbf16>, tensor<8x256xbf16>
        outs tensor<64x2xf32>, tensor<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
    ```
  }];
  let arguments = (ins MoE_RouterFloat:$tokens,
                       MoE_RouterFloat:$weight,
                       Optional<MoE_RouterFloat>:$bias,
                       MoE_RouterFloat:$weights_init,
                       MoE_SlotIndex:$indices_init,
                       MoE_RoutingAttr:$routing);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = [{
    $tokens `weight` $weight (`bias` $bias^)? `routing` $routing
    `outs` `(` $weights_init `,` $indices_init `)` attr-dict `:` type($tokens)
    `,` type($weight) (`bias` type($bias)^)? `outs` type($weights_init) `,`
    type($indices_init) (`->` type($results)^)?
  }];
  let extraClassDeclaration = [{
    /// The destinations, `weights_init` and `indices_init`: the last two
    /// operands.
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return ::mlir::MutableOperandRange(getOperation(),
                                         getOperation()->getNumOperands() - 2,
                                         2);
    }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

def MoE_CombineOp : MoE_Op<"combine", [Pure]> {
  let summary = "weighted scatter-add of expert rows back to token order";
  let description = [{
    `expert_outputs` `[R, H]`, `sources` `[R]` (from `moe.dispatch`), `weights` `[T, K]`.
    Result `[T, H]`:
    `result[t] = Σ_{r : sources[r] = t·K + k} weights[t, k] · expert_outputs[r]`,
    accumulated in f32; rows with `sources[r] < 0` are ignored. The inverse of
    `moe.dispatch`: with unit weights, combine(dispatch(x)) sums a token's kept copies.

    ```mlir
    %out = moe.combine %y, %sources, %w
        : tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$expert_outputs,
                       MoE_IndexTensor:$sources,
                       MoE_FloatTensor:$weights);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $expert_outputs `,` $sources `,` $weights attr-dict `:` type($expert_outputs) `,`
    type($sources) `,` type($weights) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.null_experts
//===----------------------------------------------------------------------===//

def MoE_NullExpertsOp : MoE_Op<"null_experts", [Pure, AttrSizedOperandSegments]> {
  let summary = "contribution of zero, copy and constant experts (no GEMM)";
  let description = [{
    `tokens` `[T, H]`, `indices`/`weights` `[T, K]` (from `moe.router`). Null experts
    are numbered from `first` (the number of routed experts): `zero` zero experts, then
    `copy` copy experts, then `constant` constant experts. Result `[T, H]`:
    `result[t] = Σ_k weights[t,k] · f(indices[t,k], x_t)` with zero → 0, copy → x_t,
    constant j → α₁x_t + α₂v_j where [α₁, α₂] = softmax(mix_j · x_t), over the slots
    that hold a null expert. `constants(%v, %mix)` (`[Nc, H]`, `[Nc, 2, H]`) is present
    exactly when `constant > 0`.

    ```mlir
    %n = moe.null_experts %x, %idx, %w first 8 zero 1 copy 1 constant 0
        : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$tokens,
                       MoE_IndexTensor:$indices,
                       MoE_FloatTensor:$weights,
                       Optional<MoE_FloatTensor>:$constant_vectors,
                       Optional<MoE_FloatTensor>:$constant_mix,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$first,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$zero,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$copy,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$constant);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $tokens `,` $indices `,` $weights
    (`constants` `(` $constant_vectors^ `,` $constant_mix `)`)?
    `first` $first `zero` $zero `copy` $copy `constant` $constant attr-dict `:`
    type($tokens) `,` type($indices) `,` type($weights)
    (`,` type($constant_vectors)^ `,` type($constant_mix))? `->` type($result)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// moe.shared_experts
//===----------------------------------------------------------------------===//

def MoE_SharedExpertsOp : MoE_Op<"shared_experts",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "dense FFN applied to every token, with an optional sigmoid gate";
  let description = [{
    `tokens` `[T, H]`; with `layout in_out`: `gate`/`up` `[H, F]`, `down` `[F, H]`; with
    `out_in`: `gate`/`up` `[F, H]`, `down` `[H, F]`. `n` DeepSeek shared experts are one
    FFN of width `n·F`. Result `[T, H]`: `FFN(x)` as in `moe.experts`, times
    `sigmoid(x · g)` when `sigmoid_gate g` (`[H]`) is given (Qwen2-MoE).

    ```mlir
    %s = moe.shared_experts %x gate %g up %u down %d sigmoid_gate %sg activation silu
        layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<64x256xf32>,
          tensor<256x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$tokens,
                       Optional<MoE_FloatTensor>:$gate_weight,
                       MoE_FloatTensor:$up_weight,
                       MoE_FloatTensor:$down_weight,
                       Optional<MoE_FloatTensor>:$sigmoid_gate,
                       MoE_ActivationAttr:$activation,
                       MoE_WeightLayoutAttr:$layout);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $tokens (`gate` $gate_weight^)? `up` $up_weight `down` $down_weight
    (`sigmoid_gate` $sigmoid_gate^)? `activation` `` $activation `layout` `` $layout
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.layer / moe.chain
//===----------------------------------------------------------------------===//

// Operands and attributes shared by the whole-block ops.
class MoE_BlockOp<string mnemonic, list<Trait> traits = []>
    : MoE_Op<mnemonic, !listconcat([Pure, AttrSizedOperandSegments], traits)> {
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $tokens `router` $router_weight (`bias` $bias^)?
    `experts` (`gate` $gate_weight^)? `up` $up_weight `down` $down_weight
    (`shared_gate` $shared_gate_weight^)? (`shared_up` $shared_up_weight^)?
    (`shared_down` $shared_down_weight^)? (`shared_sigmoid_gate` $shared_sigmoid_gate^)?
    (`constants` `(` $constant_vectors^ `,` $constant_mix `)`)?
    `routing` $routing `activation` `` $activation `layout` `` $layout
    (`capacity` $capacity^)? (`drop` `` $drop_policy^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def MoE_LayerOp : MoE_BlockOp<"layer"> {
  let summary = "a whole MoE block: router, dispatch, experts, combine, shared experts";
  let description = [{
    `tokens` `[T, H]`; `router` weight `[H, E]` (`in_out`) or `[E, H]` (`out_in`), E
    counting null experts; optional selection `bias` `[E]`; routed expert weights as in
    `moe.experts` over the `E - nulls` routed experts; optional shared expert weights as
    in `moe.shared_experts` (`shared_up` and `shared_down` together); `constants(...)` as
    in `moe.null_experts`. Result `[T, H]`:

    `combine(experts(dispatch(x, router(x·Wr)))) + null_experts(x) + shared(x)`

    with logits computed in f32. `capacity`/`drop_policy` select capacity mode as in
    `moe.dispatch`. Optional `parallel` (`#moe.parallel`) and `weights_tier`
    (`#moe.tier`) annotate the plan; `ep` must divide the routed experts and `etp` the
    intermediate size. `moe-decompose` expands the layer into its parts.
  }];
  let arguments = (ins MoE_FloatTensor:$tokens,
                       MoE_FloatTensor:$router_weight,
                       Optional<MoE_FloatTensor>:$bias,
                       Optional<MoE_FloatTensor>:$gate_weight,
                       MoE_FloatTensor:$up_weight,
                       MoE_FloatTensor:$down_weight,
                       Optional<MoE_FloatTensor>:$shared_gate_weight,
                       Optional<MoE_FloatTensor>:$shared_up_weight,
                       Optional<MoE_FloatTensor>:$shared_down_weight,
                       Optional<MoE_FloatTensor>:$shared_sigmoid_gate,
                       Optional<MoE_FloatTensor>:$constant_vectors,
                       Optional<MoE_FloatTensor>:$constant_mix,
                       MoE_RoutingAttr:$routing,
                       MoE_ActivationAttr:$activation,
                       MoE_WeightLayoutAttr:$layout,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$capacity,
                       OptionalAttr<MoE_DropPolicyAttr>:$drop_policy,
                       OptionalAttr<MoE_ParallelAttr>:$parallel,
                       OptionalAttr<MoE_TierAttr>:$weights_tier);
}

def MoE_ChainOp : MoE_BlockOp<"chain"> {
  let summary = "chain-of-experts: C routed iterations over the same experts";
  let description = [{
    Like `moe.layer`, with one router per iteration: `router` weight `[C, H, E]`
    (`in_out`) or `[C, E, H]` (`out_in`), optional `bias` `[C, E]`, where C =
    `iterations`. With `x₀ = tokens`, for t = 1..C:
    `x_t = x_{t-1} + Σ_i g_{t,i}·E_i(x_{t-1}) (+ null experts + shared(x_{t-1}))`
    where `g_t` comes from router t; the experts are the same in every iteration.
    Result `x_C`. (Chain-of-experts routes with softmax top-K without renormalisation;
    the routing attribute says so explicitly.) Dropless only.
  }];
  let arguments = (ins MoE_FloatTensor:$tokens,
                       MoE_FloatTensor:$router_weight,
                       Optional<MoE_FloatTensor>:$bias,
                       Optional<MoE_FloatTensor>:$gate_weight,
                       MoE_FloatTensor:$up_weight,
                       MoE_FloatTensor:$down_weight,
                       Optional<MoE_FloatTensor>:$shared_gate_weight,
                       Optional<MoE_FloatTensor>:$shared_up_weight,
                       Optional<MoE_FloatTensor>:$shared_down_weight,
                       Optional<MoE_FloatTensor>:$shared_sigmoid_gate,
                       Optional<MoE_FloatTensor>:$constant_vectors,
                       Optional<MoE_FloatTensor>:$constant_mix,
                       MoE_RoutingAttr:$routing,
                       MoE_ActivationAttr:$activation,
                       MoE_WeightLayoutAttr:$layout,
                       I64Attr:$iterations);
  let extraClassDeclaration = [{
    /// Builds iteration `iteration` (0-based) of the chain on `input` at the
    /// builder's insertion point: a `moe.layer` with that iteration's router
    /// slice, plus the residual. Returns x_{iteration+1}.
    ::mlir::Value buildIteration(::mlir::OpBuilder &builder, int64_t iteration,
                                 ::mlir::Value input);
  }];
  let assemblyFormat = [{
    $tokens `iterations` $iterations `router` $router_weight (`bias` $bias^)?
    `experts` (`gate` $gate_weight^)? `up` $up_weight `down` $down_weight
    (`shared_gate` $shared_gate_weight^)? (`shared_up` $shared_up_weight^)?
    (`shared_down` $shared_down_weight^)? (`shared_sigmoid_gate` $shared_sigmoid_gate^)?
    (`constants` `(` $constant_vectors^ `,` $constant_mix `)`)?
    `routing` $routing `activation` `` $activation `layout` `` $layout attr-dict `:`
    functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Union of experts
//===----------------------------------------------------------------------===//

def MoE_UnionAttentionOp : MoE_Op<"union_attention", [Pure]> {
  let summary = "union-of-experts selective multi-head attention (heads are experts)";
  let description = [{
    `tokens` `[B, S, D]`; `gate` `[D, N]` and `gate_bias` `[N]` over N heads; `query`,
    `key`, `value` `[N, D, Dh]`; `output` `[N, Dh, D]`. Result `[B, S, D]`.

    `p = softmax(X·gate + gate_bias)` over heads; each token keeps its `top_k` heads
    (the others are set to 0); the masked gate is normalised over the batch axis:
    `g[b,s,n] = m[b,s,n] / Σ_b' m[b',s,n]` (0 where that sum is 0). Each (head,
    sequence) then keeps exactly `capacity` tokens of largest `g` (ties to the lower
    position), in ascending position order; attention runs over those tokens only:
    q/k/v projections, RoPE with `rope_theta` on q and k at the compacted position c
    (the token's index in the kept list; "rotate half" pairing of dimensions i and
    i + Dh/2, frequency rope_theta^(-2i/Dh)), causal softmax(q·kᵀ/√Dh)·v, the head's
    `output` projection, scatter-added back to the kept positions. Positions no head
    keeps are 0 (no residual). Gate values select, they do not scale. Dh must be even.
  }];
  let arguments = (ins MoE_FloatTensor:$tokens,
                       MoE_FloatTensor:$gate,
                       MoE_FloatTensor:$gate_bias,
                       MoE_FloatTensor:$query,
                       MoE_FloatTensor:$key,
                       MoE_FloatTensor:$value,
                       MoE_FloatTensor:$output,
                       ConfinedAttr<I64Attr, [IntPositive]>:$top_k,
                       ConfinedAttr<I64Attr, [IntPositive]>:$capacity,
                       DefaultValuedAttr<F64Attr, "10000.0">:$rope_theta);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $tokens `gate` $gate `,` $gate_bias `qkv` $query `,` $key `,` $value `output` $output
    `top_k` $top_k `capacity` $capacity attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_UnionFFNOp : MoE_Op<"union_ffn", [Pure]> {
  let summary = "union-of-experts FFN: column/row slices of one FFN are the experts";
  let description = [{
    `tokens` `[B, S, D]`; `router` `[D, N]` and `router_bias` `[N]` over N experts;
    one FFN with optional `gate` and `up` `[D, F]` and `down` `[F, D]`, N dividing F.
    Expert e is the column slice `[e·F/N, (e+1)·F/N)` of gate/up and the same row slice
    of down. `p = softmax(X·router + router_bias)`; for each sequence, expert e keeps
    exactly `capacity` tokens (default ⌊S/2⌋) of largest `p[:, e]` (ties to the lower
    position) and adds its slice's output at those positions (positions no expert keeps
    are 0). Gate values select, they do not scale. Result `[B, S, D]`.
  }];
  let arguments = (ins MoE_FloatTensor:$tokens,
                       MoE_FloatTensor:$router,
                       MoE_FloatTensor:$router_bias,
                       Optional<MoE_FloatTensor>:$gate_weight,
                       MoE_FloatTensor:$up_weight,
                       MoE_FloatTensor:$down_weight,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$capacity,
                       MoE_ActivationAttr:$activation);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $tokens `router` $router `,` $router_bias
    `ffn` (`gate` $gate_weight^)? `up` $up_weight `down` $down_weight
    `experts` $num_experts (`capacity` $capacity^)? `activation` `` $activation attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.composition
//===----------------------------------------------------------------------===//

def MoE_CompositionOp : MoE_Op<"composition",
    [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "composition of experts: a router picks one whole model per request";
  let description = [{
    `selector` `[R, M]` logits over the M `models` (symbols of `func.func`s);
    `inputs` `[R, ...]`; `weights` the models' weights. For each request r,
    `m = argmax selector[r]` (ties to the lower index) and
    `result[r] = @models[m](inputs[r], weights of model m...)`.

    Model `i` takes `1 + n_i` arguments: first one request's slice of `inputs`
    (the shape of `inputs[r]`), then its `n_i` weights; it returns one tensor of
    the shape of `result[r]` (same element types as `inputs` and the result).
    The `weights` operands are the models' weights concatenated in model order
    (model 0's `n_0`, then model 1's `n_1`, ...), each of the type of the
    model's argument it binds; the group `weights(...)` is omitted when no model
    takes weights (they are then constants inside the models). A model's
    weights are typically arguments of the enclosing function, bound to its
    checkpoint (`moe.input`). `weights_tier` says where the models' weights live
    between requests (SN40L keeps them in host memory and streams the chosen
    one up).

    ```mlir
    // @coder takes (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8xf32>),
    // @chat takes (tensor<16x64xf32>, tensor<4x64xf32>).
    %y = moe.composition %sel, %x models [@coder, @chat]
        weights(%coder_router, %coder_bias, %chat_router
                : tensor<8x64xf32>, tensor<8xf32>, tensor<4x64xf32>)
        {weights_tier = #moe.tier<host>}
        : tensor<4x2xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$selector,
                       MoE_FloatTensor:$inputs,
                       Variadic<AnyRankedTensor>:$weights,
                       SymbolRefArrayAttr:$models,
                       OptionalAttr<MoE_TierAttr>:$weights_tier);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $selector `,` $inputs `models` $models
    (`weights` `(` $weights^ `:` type($weights) `)`)?
    attr-dict `:` type($selector) `,` type($inputs) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// One model of the composition: its function and the `weights` operands
    /// it receives (bound to its arguments 1.., in order).
    struct Model {
      ::mlir::func::FuncOp func;
      ::mlir::OperandRange weights;
    };

    /// The func.func that model `index` names, looked up from this op through
    /// `symbolTable` (whose tables are cached) or, when null, through
    /// SymbolTable::lookupNearestSymbolFrom; null when it names none.
    ::mlir::func::FuncOp lookupModel(
        unsigned index, ::mlir::SymbolTableCollection *symbolTable = nullptr);

    /// The models in order, each with the `weights` operands it receives:
    /// model i's function takes the request and then n_i weights, and the
    /// `weights` operands are the models' weights concatenated in model
    /// order. Fails (without a diagnostic) when a model names no func.func,
    /// takes no argument, or the models' weights do not add up to the
    /// `weights` operands; never for an op whose symbol uses verified.
    ::mlir::FailureOr<::llvm::SmallVector<Model>> resolveModels(
        ::mlir::SymbolTableCollection *symbolTable = nullptr);
  }];
}

#endif // MOE_IR_MOEOPS_TD
