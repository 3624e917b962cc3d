//===- Passes.td - moe dialect passes ----------------------*- tablegen -*-===//

#ifndef MOE_TRANSFORMS_PASSES_TD
#define MOE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoEDecompose : Pass<"moe-decompose"> {
  let summary = "Expands moe.layer (and, on request, moe.chain) into its parts";
  let description = [{
    Rewrites every `moe.layer` into the ops it is made of:

    ```
    logits  = linalg.matmul(x, router_weight)       (f32 accumulation and result)
    w, idx  = moe.router logits [bias b]
    rows, offsets, sources = moe.dispatch x, idx    (dropless or capacity mode)
    y       = moe.experts rows, offsets (gate) up down
    out     = moe.combine y, sources, w
            + moe.null_experts x, idx, w            (only with copy/constant experts)
            + moe.shared_experts x ...              (only with shared experts)
    ```

    Zero experts contribute nothing and produce no op. The layer's `parallel` and
    `weights_tier` annotations are inputs of the planning passes (parallel folding,
    sharding, streaming), which run on whole layers before this one; they are not
    carried onto the parts. An expert weight that `moe-plan-tiers` copies by
    expert (the result of a `moeflow.prefetch_experts`) is read by
    `moe.experts` through `moeflow.await_experts` of the router's indices,
    which copies the routed experts the prefetch did not; the prefetches by
    expert of later layers issued just before the layer move after its
    awaits, so that its misses are copied first rather than queued behind
    the later layers' predicted copies. With
    `expand-chains`, every
    `moe.chain` becomes its C iterations (`x_t = x_{t-1} + layer_t(x_{t-1})`, router
    slice t of `router_weight`), which are then decomposed in turn.
  }];
  let options = [
    Option<"expandChains", "expand-chains", "bool", /*default=*/"false",
           "Also expand moe.chain into one moe.layer per iteration">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoEFuse : Pass<"moe-fuse"> {
  let summary = "Folds the dispatch's token gather into the grouped GEMM that "
                "reads its rows, and routers into their logits GEMM";
  let description = [{
    A `moe.grouped_matmul` whose `rows` are the rows of a `moe.dispatch` reads
    the tokens through the dispatch's `sources` instead:

    ```
    rows, offsets, sources = moe.dispatch x, idx experts E     (idx [T, K])
    h = moe.grouped_matmul rows, offsets weight up gate gate ...
      ->
    h = moe.grouped_matmul x gather sources slots K, offsets weight up gate gate ...
    ```

    Row r of the GEMM is then `x[sources[r] / K]` (zero where `sources[r] < 0`),
    exactly the dispatch's row r, so results do not change. Once no GEMM reads
    the dispatch's `rows`, nothing materialises the permuted copy of the tokens:
    `convert-moe-to-gpu` loads each row of A straight from `x` (one
    `cp.async` per 16 bytes, into the same 128-byte-swizzled stages that TMA
    fills for unpermuted rows), and `convert-grouped-matmul-to-linalg` gathers
    on the CPU.

    A `moe.router` whose logits only it reads, made by moe-decompose's
    logits GEMM (`linalg.matmul_transpose_b` of the tokens and an `out_in`
    router weight into a zero-filled f32 tensor), becomes one
    `moe.fused_router`:

    ```
    logits = linalg.matmul_transpose_b ins(x, W_r) outs(fill(0.0 : f32))
    w, i = moe.router logits (bias b)? routing <...>
      ->
    w, i = moe.fused_router x weight W_r (bias b)? routing <...> outs(empty, empty)
    ```

    `convert-moe-to-gpu` runs it as one kernel (the GEMM on tensor cores,
    split along H; then one warp a token scores and selects from the
    partial sums), so the [T, E] logits never make a round trip through a
    tensor of their own and the layer has one launch fewer. Targets without
    that kernel unfuse it (`convert-moe-to-linalg`; the CUDA pipeline fuses
    only where the kernel applies, in `convert-moe-router-to-gpu`).

    The other fusions of the GPU path happen where the kernels are formed:
    SwiGLU in the first GEMM's epilogue (`convert-moe-to-parallel-linalg`,
    the gate/up intermediate never reaches memory) and the routing-weight
    scaling with the scatter back to token order in one combine kernel.
    `convert-moe-to-parallel-linalg` applies this pass's patterns right after
    forming the grouped GEMMs, before the dispatch is lowered.
  }];
}

def MoEFoldParallel : Pass<"moe-fold-parallel", "::mlir::ModuleOp"> {
  let summary = "Chooses (or checks) the module's folded attention/MoE parallel plan";
  let description = [{
    MoE parallel folding: attention is split `tp × cp × dp × pp` and the MoE layers
    `etp × ep × edp × pp` over the same `world-size` devices (`pp` is shared), so
    `world = tp·cp·dp·pp = etp·ep·edp·pp`. The pass reads every `moe.layer` and
    `moe.chain` of the module and

    * when the module has no `moe.parallel` attribute, enumerates every such
      factorisation of `world-size`, drops the infeasible ones, ranks the rest
      with the cost model below and attaches the cheapest as
      `moe.parallel = #moe.parallel<...>` on the module;
    * when it has one, only checks it against `world-size` and the layers, with one
      diagnostic per violation (on the layer it concerns, else on the module),
      and leaves it in place.

    Layers whose own `parallel` attribute spans a different number of ranks than
    `world-size` are reported too. Spelling:
    `moe-opt --moe-fold-parallel="world-size=64 num-layers=58 explain=true"`.

    **What the model knows.** From each layer: T tokens (dimension 0 of `tokens`,
    the tokens of one step of the whole model, before any split), H hidden, E routed
    experts, K top-k, F expert intermediate size, gated (3 matrices) or not (2), the
    shared experts' intermediate size Fs, the element size in bytes, the dispatch row
    bound (T·K dropless, fewer with a capacity) and, for `moe.chain`, the C
    iterations (routing, experts and all-to-all C times, weights once). Attention is
    not in the moe dialect: every MoE layer is assumed to follow one multi-head
    attention block of width H (Q, K, V, O: 4·H² weights, K/V of width H), whose
    score computation is not counted. `num-layers` says how many MoE layers the
    model has when the module holds representative layers only (costs scale by
    num-layers / ops in the module; 0: the module is the whole model).
    Static T, H, E and F are required.

    **Feasibility.** `ep` divides E and `etp` divides F of every layer; `tp` divides
    H, Fs and `attention-heads` (when given); `dp·cp ≤ T` (every attention data
    shard has a token); `pp ≤` the model's layers; and the weights of the
    heaviest pipeline stage fit in `hbm-bytes-per-rank`:
    `⌈L/pp⌉ · max over layers of (E·m·H·F/(ep·etp) + 4·H²/tp + ms·H·Fs/tp + routers)·bytes`
    with L the model's MoE layers, m (ms) = 3 for gated experts (shared experts),
    2 otherwise, and routers = C·H·(E + null experts), replicated. Activations,
    KV cache and workspace are not counted: leave room for them in the option.

    **Cost per layer step** (microseconds, averaged over the module's layers;
    the step is one forward pass of all T tokens, and pipelined stages work
    concurrently, so per-stage times are divided by pp). With `Ws = world/pp`
    ranks per stage and tokens split evenly over them (sequence-parallel, so both
    groupings hold T/Ws tokens per rank and no re-layout is needed between
    attention and MoE), and R = the dispatch rows (T·K dropless, fewer with a
    capacity) times C:

    * `compute` = (2·R·m·H·F + 2·T·ms·H·Fs·C + 2·T·H·(E + null experts)·C +
      2·T·4·H²) / (world · peak): every plan splits the work evenly, and load
      imbalance is not modelled;
    * `hbm` = weights per rank / HBM bandwidth / pp, read once per microbatch
      (`microbatches` times per step when pp > 1, once when pp = 1);
    * `a2a` = EP dispatch + combine: `2 · (R/Ws)·H·bytes · (ep−1)/ep`
      (`2·T·K·H·bytes·(ep−1)/ep` over the ranks' T/Ws tokens when dropless);
    * `etp` = ETP all-gather of the received rows + reduce-scatter of the
      results: `2 · (R/Ws)·H·bytes · (etp−1)`;
    * `tp` = attention TP all-reduce (all-gather + reduce-scatter under sequence
      parallelism) `2 · (T/(dp·cp))·H·bytes · (tp−1)/tp`, plus the same for the
      shared experts (split like attention) when there are any, C times;
    * `cp` = context-parallel K/V all-gather `(cp−1) · (T/(dp·cp)) · 2·(H/tp)·bytes`
      (what CP saves, the activation memory of long sequences, is not modelled,
      so the model never prefers cp to dp);
    * `bubble` = (max(compute, hbm) + a2a + etp + tp + cp) · (pp−1)/microbatches;
    * `total` = max(compute, hbm) + a2a + etp + tp + cp + bubble (compute and
      weight reads overlap, collectives do not).

    Each collective's bytes are per rank and travel over `link-bandwidth-gbps`
    when its group lies inside one node, else over `inter-node-bandwidth-gbps`.
    Ranks are numbered with tp fastest, then cp, dp, pp for attention and etp
    fastest, then ep, edp, pp for MoE; a group of degree d whose members are s
    ranks apart stays in a node when s·d divides `ranks-per-node`. Ties (to 1 ns)
    go to the smaller pp, then tp, cp, etp, ep.

    **Explain.** The option `explain` (what issue #7 calls
    `--moe-fold-parallel-explain`; spelled
    `--moe-fold-parallel="world-size=N explain=true"`) prints to stdout the layers
    the pass read, the machine parameters, how many candidates were feasible,
    and the `explain-top` cheapest candidates, each with the weights per rank of
    its heaviest stage (GB), every cost term and the total; with a given plan it
    prints that plan's row instead. The output is deterministic.

    Defaults describe an H100 SXM node: 989 dense bf16 TFLOP/s, 3350 GB/s HBM,
    80 GB usable per rank, 450 GB/s NVLink per direction per GPU inside a node of
    8, 50 GB/s (one 400 Gb/s NIC per GPU) across nodes, 8 microbatches.
    Bandwidths are in GB/s (10⁹ bytes per second) despite the `gbps` spelling.
  }];
  let options = [
    Option<"worldSize", "world-size", "int64_t", /*default=*/"0",
           "Number of devices (ranks) to plan for; required, at least 1">,
    Option<"numLayers", "num-layers", "int64_t", /*default=*/"0",
           "MoE layers of the whole model; 0: the module's moe.layer/moe.chain "
           "ops are the whole model">,
    Option<"attentionHeads", "attention-heads", "int64_t", /*default=*/"0",
           "Attention heads, which tp must divide; 0: unknown">,
    Option<"microbatches", "microbatches", "int64_t", /*default=*/"8",
           "Microbatches per step when pp > 1 (bubble (pp-1)/microbatches)">,
    Option<"peakTflops", "peak-tflops", "double", /*default=*/"989.0",
           "Peak dense TFLOP/s per rank">,
    Option<"hbmBandwidthGbps", "hbm-bandwidth-gbps", "double",
           /*default=*/"3350.0", "HBM bandwidth per rank in GB/s">,
    Option<"hbmBytesPerRank", "hbm-bytes-per-rank", "int64_t",
           /*default=*/"80000000000",
           "Bytes of device memory per rank available for weights">,
    Option<"linkBandwidthGbps", "link-bandwidth-gbps", "double",
           /*default=*/"450.0",
           "Per-rank bandwidth of collectives inside a node, GB/s">,
    Option<"interNodeBandwidthGbps", "inter-node-bandwidth-gbps", "double",
           /*default=*/"50.0",
           "Per-rank bandwidth of collectives whose group spans nodes, GB/s">,
    Option<"ranksPerNode", "ranks-per-node", "int64_t", /*default=*/"8",
           "Ranks per node (consecutive rank numbers)">,
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Print the layers, the candidates' cost terms and the choice to "
           "stdout">,
    Option<"explainTop", "explain-top", "int64_t", /*default=*/"10",
           "Number of candidates the explanation lists">
  ];
}

def MoEPlaceExperts : Pass<"moe-place-experts", "::mlir::ModuleOp"> {
  let summary = "Places experts on EP ranks from a routing trace (affinity and load balance)";
  let description = [{
    Chooses, for every `moe.layer` and `moe.experts` of the module, which
    expert-parallel (EP) rank holds which routed expert, and records it as
    `moe.expert_permutation = array<i64: ...>` on the op: EP rank `r` owns
    experts `perm[r·E/ep .. (r+1)·E/ep)` (docs/multi-rank.md §2; `moe-shard`
    permutes the expert weights accordingly). The input is a routing trace
    (`trace=PATH`, format below): tokens routed to each expert per layer, and
    how often a token that used expert `i` in one layer uses expert `j` in the
    next. The ops, in program order (a pre-order walk of the module), are the
    trace's layers one for one; `moe.chain` is not placed. Each op gets its
    own placement, so two ops may not share expert weights.

    **EP size.** The layer's own `parallel` plan, else the module's
    `moe.parallel` plan, else the option `ep`; `ep` must agree with a plan that
    is present and divide every op's routed experts.

    **Traffic model.** Bytes are dispatch all-to-all rows times the row size
    `H · element bytes` of the op. A token enters the first layer from its
    attention data shard, which is independent of routing: `(ep−1)/ep` of that
    layer's rows cross ranks whatever the placement. Afterwards a token stays
    where it was last processed (the combine of layer `l` is fused into the
    dispatch of layer `l+1`, ExFlow-style): its row for expert `j` of layer
    `l+1` leaves from the rank of one of the token's `K` experts of layer `l`,
    each with probability `1/K`. So with `c(i, j)` the trace's pair counts and
    `n(j)` its tokens of expert `j`, the predicted rows of layer `l+1` that
    cross ranks are
    `Σ_j n(j) · Σ_i c(i, j)·[rank(i) ≠ rank(j)] / Σ_i c(i, j)`
    (the normalisation makes a sub-sampled pair list usable; with every pair
    recorded, `Σ_i c(i, j) = K·n(j)`). An expert with no recorded pairs is
    assumed to draw its tokens from every rank alike, `(ep−1)/ep` crossing.
    The load of a rank is the tokens routed to its experts; a placement is
    balanced when, in every layer, the most loaded rank carries at most
    `(1 + imbalance)` times the mean.

    **Algorithm** (deterministic). Two starting placements: a greedy sweep
    over the layers (each layer's experts, heaviest first, go to the rank
    with the most affinity to the previous layer's placement that has a free
    slot and stays within the load bound; the first layer by longest
    processing time) and the identity placement. Each is repaired for balance
    (swaps that lower the most loaded rank) and improved by local search
    (Kernighan–Lin style: swaps of two experts on different ranks of a layer,
    and swaps of two ranks' whole expert sets, taken when they lower the
    predicted bytes and keep the load bound) until no swap improves it. The
    cheaper balanced result is kept, so the placement is never worse than the
    identity when the identity is balanced. If no balanced placement is found
    for a layer, a warning says so and the best balance found is kept.

    **Trace format** (JSON):

    ```json
    {
      "format": "moe-routing-trace", "version": 1,
      "tokens": 4096, "top_k": 8, "source": "free text",
      "layers": [
        {"tokens_per_expert": [n_0, n_1, ..., n_E-1],
         "pairs_with_next": [[i, j, count], ...]},
        ...
      ]
    }
    ```

    `format`, `version` (1) and `layers` are required, `tokens`, `top_k`
    (non-negative and positive integers) and `source` (a string) are
    informational. Layer `l` has `tokens_per_expert` (E non-negative
    integers, E the op's routed experts) and, except on the last layer,
    optionally `pairs_with_next`: distinct triples `[i, j, count]` meaning
    `count` (a non-negative integer) times a token routed to expert `i` of
    layer `l` was also routed to expert `j` of layer `l+1`; absent pairs count
    0, and an expert with no tokens has no pairs. Every other key, a wrong
    type, an index out of range or a duplicate pair is an error naming the
    file and the field (`layers[3].pairs_with_next[7][1]`).
    `scripts/make-routing-trace.py` writes synthetic traces.

    **Explain.** With `explain=true` the pass prints to stderr, per layer and
    in total, the predicted all-to-all bytes of the identity placement and of
    the chosen one, and each rank's load before and after.
  }];
  let options = [
    Option<"tracePath", "trace", "std::string", /*default=*/"",
           "Routing trace (JSON, format in the description); required">,
    Option<"epSize", "ep", "int64_t", /*default=*/"0",
           "EP size when no moe.parallel plan gives it; 0: from the plan">,
    Option<"imbalance", "imbalance", "double", /*default=*/"0.1",
           "Allowed load imbalance: every rank's tokens <= (1 + imbalance) "
           "x the mean, per layer">,
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Print predicted all-to-all bytes and rank loads, before and "
           "after, to stderr">
  ];
}

def MoEShard : Pass<"moe-shard", "::mlir::ModuleOp"> {
  let summary = "Applies the MoE half of the parallel plan: each function "
                "becomes the program of one rank";
  let description = [{
    Reads the module's `moe.parallel` plan (`#moe.parallel<..., moe = {etp, ep,
    edp}>`, attached by `moe-fold-parallel` or written by hand; without one, the
    plan the module's `moe.layer`s carry, which must agree) and rewrites every
    public function holding `moe.layer` / `moe.chain` ops into the SPMD program
    of one rank of

    ```mlir
    shard.grid @moe_grid(shape = EDPxEPxETP)   // axis 0 edp, 1 ep, 2 etp
    ```

    following the contract of `docs/multi-rank.md` §2: arguments and results
    get their local types and a `moe.split_axes` attribute (one
    `array<i16>` of grid axes per dimension):

    | value | split |
    |---|---|
    | tokens `[T, H]`, results, residual sums | dim 0 over `[0, 1]` (edp, ep) |
    | router weight, bias, null-expert constants | replicated |
    | expert weights `[E, ., .]` | dim 0 over `[1]`, the F dimension over `[2]` |
    | shared-expert weights | the F dimension over `[2]` |

    Each layer becomes, on the rank's `T/(ep·edp)` tokens:

    1. router logits, `moe.router` and null experts on the rank's own tokens;
    2. a local `moe.dispatch` over all E experts, ordered by expert position
       (with `moe.expert_permutation = array<i64: ...>` on the layer, a
       permutation of `[0, E)` written by `moe-place-experts`, EP rank `r`
       owns experts `perm[r·E/ep .. (r+1)·E/ep)` and the expert weight
       arguments carry the permutation, so the runtime permutes dimension 0
       before splitting);
    3. with ep > 1: `moeflow.all_to_all_v` over the ep axis of the rows and of
       each row's local expert (send counts from the dispatch offsets, receive
       capacity `ep·T_local·K`, counts exchanged at run time); the received rows
       (source-major) are regrouped expert-major by a second `moe.dispatch`
       (padding rows past the received count are dropped), run through the
       rank's experts with `moe.experts`, put back in arrival order with
       `moe.combine` (unit weights), and returned with a second
       `moeflow.all_to_all_v` (send counts = the received counts); a rank that
       receives no rows runs no expert;
    4. `moe.combine` of the returned rows, plus the shared experts on the rank's
       F slice; with etp > 1 this partial sum is completed by one
       `moeflow.all_reduce` (sum) over the etp axis;
    5. plus the copy/constant null experts.

    `moe.chain` ops are first expanded into their iterations. A plan of one
    rank leaves the module unchanged; without a plan the pass does nothing.

    Errors (located): pp > 1; a plan on a layer that differs from the
    module's; a token count not divisible by `ep·edp`, experts not divisible by
    `ep`, an intermediate size not divisible by `etp`; a malformed
    `moe.expert_permutation`; weights that are not function arguments or
    arguments used in two roles; ops other than `moe.layer`, `moe.chain`,
    `arith.addf` and `func.return` using split values; decomposed moe ops (run
    `moe-shard` before `moe-decompose`); moe ops nested in regions; and
    capacity-mode dispatch when tokens are split (`ep·edp > 1`): a per-expert
    capacity counts the rows of all T tokens in (token, slot) order, which no
    rank sees, so it is only kept under ETP alone.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::moeflow::MoEFlowDialect",
    "::mlir::shard::ShardDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoEStream : Pass<"moe-stream", "::mlir::ModuleOp"> {
  let summary = "Overlaps the expert-parallel all-to-alls of a sharded layer "
                "with expert compute, chunk by chunk";
  let description = [{
    Rewrites each expert-parallel exchange that `moe-shard` writes (local
    `moe.dispatch` over all E experts, `moeflow.all_to_all_v` of the rows and
    of their local experts, regrouping `moe.dispatch`, `moe.experts`, unit
    `moe.combine`, return `moeflow.all_to_all_v`, weighted `moe.combine`;
    docs/multi-rank.md §2 step 3) into a software pipeline over `chunks`
    chunks of the rank's tokens (consecutive; sizes differ by at most one),
    with started collectives (`moeflow.all_to_all_v_start` /
    `moeflow.wait`). Per chunk i: D_i (dispatch of its tokens and the two
    dispatch starts), X_i (their waits, regroup, experts, unit combine, the
    return start), C_i (the return wait and the weighted combine into the
    chunk's rows of the result). Order: `D_0, D_1, X_0, D_2, X_1, C_0, D_3,
    X_2, C_1, ..., X_{n-1}, C_{n-2}, C_{n-1}`: chunk i+1's dispatch is in
    flight while chunk i's experts compute, and chunk i's return while chunk
    i+1's compute (docs/streaming.md §3).

    Results are bit-identical to the unstreamed program: the router runs once
    over all tokens, every row meets the same expert, and a token's rows keep
    their relative order within its chunk, so the weighted combine adds them
    in the same order. Receive capacities shrink with the chunk
    (`ep·T_c·K` and `T_c·K` rows).

    `chunks = 1` leaves the module unchanged; exchanges of another shape are
    left as they are. Errors (located): `chunks` < 1; more chunks than the
    layer's local tokens.
  }];
  let options = [
    Option<"chunks", "chunks", "int64_t", /*default=*/"2",
           "Chunks the rank's tokens are split into (1: no streaming)">,
    Option<"overlap", "overlap", "bool", /*default=*/"true",
           "Pipeline the chunks (false: D_i, X_i, C_i one chunk after the "
           "other, each collective waited right after its start; the "
           "unoverlapped baseline of the same chunks, for measurements)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::moeflow::MoEFlowDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoEPlanTiers : Pass<"moe-plan-tiers", "::mlir::ModuleOp"> {
  let summary = "Keeps what fits of the weights in HBM and streams the rest "
                "from host memory, prefetched ahead of use";
  let description = [{
    For a model whose weights do not fit in device memory (HBM), decides which
    weight arguments of each function stay in HBM and which live in host
    memory and are copied up (`moeflow.prefetch`) ahead of their use, under
    the byte budget `hbm-bytes`, so that the copies of later layers overlap
    the compute of earlier ones (issue #9; SN40L-like weight streaming).

    Every public `func.func` with a body is planned on its own; private and
    external functions are skipped. Spelling:
    `moe-opt --moe-plan-tiers="hbm-bytes=1048576 lookahead=1 explain=true"`.

    **Weights and groups.** The weight operands of the moe ops are every
    operand except the activations: of `moe.layer` and `moe.chain` the
    router weight and bias, the expert, shared-expert and constant-expert
    tensors (not `tokens`); of `moe.experts` the gate/up/down weights (not
    `rows`, `offsets`); of `moe.shared_experts` the gate/up/down weights and
    the sigmoid gate (not `tokens`); of `moe.router` the bias (not `logits`).
    A function argument used as one of them is a *weight argument*, of
    `product(shape) × element bytes` bytes; all must have static shapes (a
    dynamic one is an error naming it). Arguments never used as a weight
    operand (tokens; the router weight of a decomposed layer, which a
    `linalg.matmul` reads) are not counted: leave room for them in the
    budget. A weight argument is *pinned* resident (never streamed, counted
    once) when it is a weight operand of more than one op (shared weights),
    when it has any other use (returned, read by a non-moe op or as an
    activation, used by a moe op nested in a region or outside the entry
    block), or when its op carries `weights_tier = #moe.tier<hbm>` or
    `<sram>`; a pinned weight stays resident even in a host-tier layer.
    Each moe op of the entry block, in program order, that has unpinned
    weight arguments is one *group* G_i of b_i bytes (those arguments);
    group i in remarks is the i-th.

    **Fits.** When all weight arguments take at most `hbm-bytes` and no op
    asks for host memory, the function is unchanged.

    **Plan.** A group whose `moe.layer` carries
    `weights_tier = #moe.tier<host>` is *forced host*: always streamed. The
    others are kept resident as a prefix: the pass keeps the largest number
    k of leading non-forced groups resident (trying k = n down to 0) such
    that `pinned + Σ resident b_i + staging ≤ hbm-bytes`, where `staging`,
    the HBM the streamed weights take at once, is the largest sum of
    `lookahead + 1` consecutive streamed groups (in order; of all of them
    when there are fewer). Keeping the first groups resident lets the first
    layers start at once while the first streamed copy is in flight. When
    even k = 0 does not fit, the error gives the least budget that would
    (`pinned + staging` of k = 0, which no larger k undercuts).

    **Rewrite.** Every argument of a streamed group gets the argument
    attribute `moe.tier = #moe.tier<host>` (resident ones get none: HBM is
    the default; the moe dialect verifies the attribute), and for streamed group G_j each of its arguments `%w` is
    copied by

    ```mlir
    %p = moeflow.prefetch %w from <host> to <hbm> : tensor<...>
    ```

    immediately before the op of group G_{j-lookahead} (before the first op
    of the body when j < lookahead), in group then operand order; the
    group's op reads `%p` instead of `%w` (its other users do not exist:
    the argument would be pinned). The copy of G_j is thus in flight while
    the `lookahead` groups before it compute, and at most `lookahead + 1`
    streamed groups are in HBM at once, which `staging` bounds.

    **Expert fetches** (`expert-fetch`). With `all` (the default) every
    streamed argument is copied whole. With `routed` or `predicted`, the
    gate/up/down expert weights of a streamed `moe.layer` are copied by
    expert instead, because a layer whose tokens route to few experts
    (decode) reads few of them:

    ```mlir
    %p = moeflow.prefetch_experts %w predicted(%guess : tensor<TxKxi32>)
        from <host> to <hbm> : tensor<...>
    ```

    at the same place, and `moe-decompose` reads the layer's weight through
    `moeflow.await_experts %p routed(%indices ...)` after its router, which
    copies the routed experts the prefetch did not. With `routed` there is
    no prediction: every routed expert is copied after the router (fewer
    bytes than `all`, but no overlap). With `predicted`, `%guess` is the
    layer's own router (its weight, bias and routing) applied to the
    `tokens` of the op the copy is placed before (layer i's router on layer
    i - lookahead's input: consecutive layers' inputs differ by a residual
    update), computed there; so that it can, the router weight and bias of
    every `moe.layer` are pinned resident. When the copy is placed at the
    start of the body, or before an op whose tokens have another type, the
    layer's experts are fetched as with `routed`. Other streamed arguments
    (shared experts, constants, chains, other ops) are copied whole. The
    staging bound is unchanged: the buffer of an expert fetch has the whole
    tensor's size.

    A function with any `moe.tier` argument attribute is taken as already
    planned and left unchanged (so running the pass twice does not prefetch
    twice).

    **Explain.** With `explain=true`, one remark per planned function
    states the budget, the resident groups and bytes (pinned ones
    included), the streamed groups and bytes, and the staging bytes; also
    why a function was left unchanged (fits, already planned).

    Errors (located): `hbm-bytes` missing or not positive, `lookahead` < 1,
    an `expert-fetch` other than all, routed or predicted (on the module);
    a dynamic-shaped weight argument, a budget too small to stream (on the
    function).
  }];
  let options = [
    Option<"hbmBytes", "hbm-bytes", "int64_t", /*default=*/"0",
           "HBM bytes available for weights; required, positive">,
    Option<"lookahead", "lookahead", "int64_t", /*default=*/"1",
           "How many groups ahead of its use a streamed group's prefetch "
           "is issued; at least 1 (1: double buffering)">,
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark per function with the budget, the resident and "
           "streamed groups and bytes, and the staging bytes">,
    Option<"expertFetch", "expert-fetch", "std::string",
           /*default=*/"\"all\"",
           "What a streamed moe.layer's expert weights copy: all (every "
           "expert, ahead of the layer), routed (only the experts its "
           "router picks, once it has), or predicted (ahead of the layer, "
           "the experts its router picks for the tokens of the layer the "
           "copy is issued at; then the ones it missed)">
  ];
  let dependentDialects = ["::mlir::moeflow::MoEFlowDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // MOE_TRANSFORMS_PASSES_TD
