//===- MoEFlowOps.td - moeflow dialect operations ----------*- tablegen -*-===//
//
// Collectives over device groups and tier-to-tier copies, on tensors. Every
// verifier message has a case in test/Dialect/MoEFlow/invalid.mlir.
//
//===----------------------------------------------------------------------===//

#ifndef MOEFLOW_IR_MOEFLOWOPS_TD
#define MOEFLOW_IR_MOEFLOWOPS_TD

include "moeflow/IR/MoEFlowAttrs.td"
include "moeflow/IR/MoEFlowTypes.td"
include "moe/IR/MoEAttrs.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

/// A collective over the group `group @grid axes [...]` (see the dialect
/// description). The group is checked against the `shard.grid` in
/// `verifySymbolUses`, together with the shapes that depend on its size.
class MoEFlow_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : MoEFlow_Op<mnemonic, !listconcat(traits,
        [DeclareOpInterfaceMethods<SymbolUserOpInterface>])> {
  dag groupArgs = (ins FlatSymbolRefAttr:$grid, DenseI16ArrayAttr:$axes);
}

def MoEFlow_IntegerCounts : 1DTensorOf<[I32, I64]>;

/// What started collectives and their waits touch: an effect on it keeps
/// them from being removed, merged or reordered among themselves (the
/// issue order is the collective order every rank must agree on).
def MoEFlow_CollectiveResource
    : Resource<"::mlir::moeflow::CollectiveResource">;

//===----------------------------------------------------------------------===//
// moeflow.all_to_all_v
//===----------------------------------------------------------------------===//

def MoEFlow_AllToAllVOp : MoEFlow_CollectiveOp<"all_to_all_v", [Pure]> {
  let summary = "ragged all-to-all along the leading dimension, counts known at run time";
  let description = [{
    MoE dispatch and combine across expert-parallel ranks. Operands: `input`
    `[N, D...]` (rank >= 1), `send_counts` `[G]` (i32 or i64), where `G` is the group
    size. Results: `output` `[C, D...]` with the same element type and trailing
    dimensions as `input` and a static leading size `C` (the receive capacity, an upper
    bound on the rows received), and `recv_counts` of the same type as `send_counts`.

    Semantics, on a rank with index `r` in the group (`j`, `i` range over `[0, G)`):
    * The rank sends the first `sum(send_counts)` rows of `input`, in order:
      rows `[off_j, off_j + send_counts[j])` go to member `j`, where
      `off_j = send_counts[0] + ... + send_counts[j-1]`. Rows past
      `sum(send_counts)` are not sent.
    * `recv_counts[i]` is member `i`'s `send_counts[r]`: the rows received from `i`.
    * `output` holds the received rows ordered by source index, then in the order they
      were sent: first member 0's rows, then member 1's, and so on. Rows at or past
      `sum(recv_counts)` are zero.
    * A negative count, `sum(send_counts) > N`, or `sum(recv_counts) > C` is a run-time
      error reported by the runtime (no truncation).

    Statically checked: `send_counts` has `G` entries where the group size is static;
    `input` and `output` have the same rank, element type and trailing dimensions;
    `C` is static.

    ```mlir
    shard.grid @world(shape = 4x2)
    %out, %recv = moeflow.all_to_all_v %rows, %counts group @world axes [0]
        : tensor<?x64xbf16>, tensor<4xi64> -> (tensor<256x64xbf16>, tensor<4xi64>)
    ```
  }];
  let arguments = !con((ins AnyNon0RankedTensor:$input,
                            MoEFlow_IntegerCounts:$send_counts), groupArgs);
  let results = (outs AnyNon0RankedTensor:$output,
                      MoEFlow_IntegerCounts:$recv_counts);
  let assemblyFormat = [{
    $input `,` $send_counts `group` $grid `axes` $axes attr-dict `:`
    type($input) `,` type($send_counts) `->` `(` type($output) `,` type($recv_counts) `)`
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moeflow.all_to_all_v_start / moeflow.wait
//===----------------------------------------------------------------------===//

def MoEFlow_AllToAllVStartOp : MoEFlow_CollectiveOp<"all_to_all_v_start",
    [MemoryEffects<[MemWrite<MoEFlow_CollectiveResource>]>]> {
  let summary = "issues a ragged all-to-all whose results a later moeflow.wait yields";
  let description = [{
    The asynchronous form of `moeflow.all_to_all_v` (same operands, group,
    semantics and checks): the collective is issued here, which is its place
    in the rank's collective order, and `input` and `send_counts` are read
    here. The result is an `!moeflow.event<output type, recv_counts type>`;
    `moeflow.wait` on it yields `output` and `recv_counts`. Ops between the
    start and the wait overlap the communication.

    The event has exactly one use: a `moeflow.wait` in the same block, so
    that every started collective is waited exactly once on every path.

    ```mlir
    %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
        : tensor<?x64xbf16>, tensor<4xi64>
          -> !moeflow.event<tensor<256x64xbf16>, tensor<4xi64>>
    %out, %recv = moeflow.wait %ev
        : !moeflow.event<tensor<256x64xbf16>, tensor<4xi64>>
    ```
  }];
  let arguments = !con((ins AnyNon0RankedTensor:$input,
                            MoEFlow_IntegerCounts:$send_counts), groupArgs);
  let results = (outs MoEFlow_EventType:$event);
  let assemblyFormat = [{
    $input `,` $send_counts `group` $grid `axes` $axes attr-dict `:`
    type($input) `,` type($send_counts) `->` qualified(type($event))
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The types the wait yields.
    ::mlir::Type getOutputType() {
      return getEvent().getType().getResultTypes()[0];
    }
    ::mlir::Type getRecvCountsType() {
      return getEvent().getType().getResultTypes()[1];
    }
  }];
}

def MoEFlow_WaitOp : MoEFlow_Op<"wait",
    [MemoryEffects<[MemWrite<MoEFlow_CollectiveResource>]>,
     DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "waits for a started collective and yields its results";
  let description = [{
    Blocks until the collective that produced `event` is complete and yields
    its results, of the types the event type lists. `event` must be the
    result of a start op (`moeflow.all_to_all_v_start`), whose verifier
    makes this the event's only use.

    ```mlir
    %out, %recv = moeflow.wait %ev
        : !moeflow.event<tensor<256x64xbf16>, tensor<4xi64>>
    ```
  }];
  let arguments = (ins MoEFlow_EventType:$event);
  let results = (outs Variadic<AnyType>:$results);
  let assemblyFormat = "$event attr-dict `:` qualified(type($event))";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moeflow.all_gather
//===----------------------------------------------------------------------===//

def MoEFlow_AllGatherOp : MoEFlow_CollectiveOp<"all_gather", [Pure]> {
  let summary = "concatenates the group's tensors along one dimension";
  let description = [{
    Every rank of a group of size `G` contributes `input`; every rank gets `result`, the
    concatenation of the `G` inputs along dimension `dim` in group-index order. `input`
    and `result` have the same rank and element type; `result` dimension `dim` is `G`
    times `input`'s (checked where both and `G` are static) and the other dimensions
    agree. Every rank's `input` has the same shape.

    ```mlir
    %full = moeflow.all_gather %part group @world axes [1] dim 1
        : tensor<64x128xf32> -> tensor<64x256xf32>
    ```
  }];
  let arguments = !con((ins AnyNon0RankedTensor:$input), groupArgs,
                       (ins I64Attr:$dim));
  let results = (outs AnyNon0RankedTensor:$result);
  let assemblyFormat = [{
    $input `group` $grid `axes` $axes `dim` $dim attr-dict `:`
    type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moeflow.reduce_scatter
//===----------------------------------------------------------------------===//

def MoEFlow_ReduceScatterOp : MoEFlow_CollectiveOp<"reduce_scatter", [Pure]> {
  let summary = "reduces the group's tensors and scatters the result along one dimension";
  let description = [{
    Every rank of a group of size `G` contributes `input` (the same shape on every
    rank); the element-wise reduction (`sum`, `max` or `min`) of the `G` inputs is split
    along dimension `dim` into `G` equal slices, and the rank with group index `r` gets
    slice `r` as `result`. `input` dimension `dim` must be divisible by `G`, and
    `result`'s is `input`'s divided by `G` (checked where static); the other dimensions
    and the element type agree. Sums of floating-point values may be computed in any
    order.

    ```mlir
    %part = moeflow.reduce_scatter %y group @world axes [1] dim 0 reduction sum
        : tensor<64x4096xbf16> -> tensor<32x4096xbf16>
    ```
  }];
  let arguments = !con((ins AnyNon0RankedTensor:$input), groupArgs,
                       (ins I64Attr:$dim, MoEFlow_ReductionAttr:$reduction));
  let results = (outs AnyNon0RankedTensor:$result);
  let assemblyFormat = [{
    $input `group` $grid `axes` $axes `dim` $dim `reduction` `` $reduction attr-dict
    `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moeflow.all_reduce
//===----------------------------------------------------------------------===//

def MoEFlow_AllReduceOp : MoEFlow_CollectiveOp<"all_reduce",
    [Pure, SameOperandsAndResultType]> {
  let summary = "element-wise reduction of the group's tensors, on every rank";
  let description = [{
    Every rank of the group contributes `input` (the same type on every rank) and gets
    `result`, of the same type: the element-wise `sum`, `max` or `min` of the group's
    inputs. Sums of floating-point values may be computed in any order.

    ```mlir
    %y = moeflow.all_reduce %x group @world axes [0, 1] reduction sum : tensor<16x64xf32>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$input), groupArgs,
                       (ins MoEFlow_ReductionAttr:$reduction));
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `group` $grid `axes` $axes `reduction` `` $reduction attr-dict `:`
    type($input)
  }];
}

//===----------------------------------------------------------------------===//
// moeflow.send / moeflow.recv
//===----------------------------------------------------------------------===//

def MoEFlow_SendOp : MoEFlow_CollectiveOp<"send"> {
  let summary = "sends a tensor to one peer of the group";
  let description = [{
    Point-to-point send of `input` to one member of the group. The peer is an integer:
    * `to 3`: the member with group index 3 (absolute; `0 <= peer < G`, checked
      where the group size `G` is static);
    * `to offset -1`: the member with group index `(r + peer) mod G`, where `r` is the
      sender's own index (relative; any integer, wrapping around the group).

    The k-th `moeflow.send` from rank `a` to rank `b` in a group pairs with the k-th
    `moeflow.recv` on `b` from `a` in the same group, and both name the same tensor
    type. Sends and receives are never removed or reordered.

    ```mlir
    moeflow.send %x group @world axes [0] to offset 1 : tensor<16x64xf32>
    ```
  }];
  let arguments = !con((ins AnyRankedTensor:$input), groupArgs,
                       (ins I64Attr:$peer, UnitAttr:$relative));
  let assemblyFormat = [{
    $input `group` $grid `axes` $axes `to` (`offset` $relative^)? $peer attr-dict `:`
    type($input)
  }];
  let hasVerifier = 1;
}

def MoEFlow_RecvOp : MoEFlow_CollectiveOp<"recv"> {
  let summary = "receives a tensor from one peer of the group";
  let description = [{
    Point-to-point receive of `result` from one member of the group, the peer given as
    for `moeflow.send`: `from 0` (absolute group index, `0 <= peer < G`) or
    `from offset -1` (relative: the member with index `(r + peer) mod G`). Pairs with
    the matching `moeflow.send` (see there).

    ```mlir
    %x = moeflow.recv group @world axes [0] from offset -1 : tensor<16x64xf32>
    ```
  }];
  let arguments = !con(groupArgs, (ins I64Attr:$peer, UnitAttr:$relative));
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    `group` $grid `axes` $axes `from` (`offset` $relative^)? $peer attr-dict `:`
    type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moeflow.prefetch
//===----------------------------------------------------------------------===//

def MoEFlow_PrefetchOp : MoEFlow_Op<"prefetch", [Pure, SameOperandsAndResultType]> {
  let summary = "copies a tensor from one memory tier to another ahead of its use";
  let description = [{
    `result` is `input` (same type and value), placed in memory tier `to`; `input` lives
    in tier `from` (`#moe.tier<sram|hbm|host>`, shared with the `moe` dialect). The copy
    may start as soon as `input` is available, so that it overlaps earlier compute;
    users of `result` wait for it. `from` and `to` differ.

    ```mlir
    %w = moeflow.prefetch %w_host from <host> to <hbm> : tensor<8x4096x14336xbf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, MoE_TierAttr:$from, MoE_TierAttr:$to);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `from` $from `to` $to attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moeflow.prefetch_experts / moeflow.await_experts
//===----------------------------------------------------------------------===//

def MoEFlow_ExpertIndices : RankedTensorOf<[I32]>;

def MoEFlow_PrefetchExpertsOp : MoEFlow_Op<"prefetch_experts",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "starts copying the slices of the experts a prediction names "
                "from one memory tier to another";
  let description = [{
    An expert-weight tensor (`input`, leading dimension: the expert) whose
    copy is split by expert: only the slices of the experts named in
    `predicted` (i32 indices of any shape, each outside `[0, experts)`
    ignored: null experts, dropped slots) are copied from tier `from` to tier
    `to` ahead of use; without `predicted` nothing is. The copy may start as
    soon as the operands are available, so that it overlaps earlier compute.

    The value of `result` is `input`, but in tier `to` it holds only the
    predicted experts: it must be read through exactly one
    `moeflow.await_experts`, which copies the routed experts the prediction
    missed. (`moe-decompose` inserts that await when a `moe.layer` reads
    an expert weight from a `prefetch_experts`; `moe-plan-tiers` with
    `expert-fetch=predicted` or `routed` places both.)

    ```mlir
    %p = moeflow.prefetch_experts %w_host predicted(%guess : tensor<8x2xi32>)
        from <host> to <hbm> : tensor<4x32x16xf32>
    %w = moeflow.await_experts %p routed(%indices : tensor<8x2xi32>)
        : tensor<4x32x16xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<MoEFlow_ExpertIndices>:$predicted,
                       MoE_TierAttr:$from, MoE_TierAttr:$to);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input (`predicted` `(` $predicted^ `:` type($predicted) `)`)?
    `from` $from `to` $to attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

def MoEFlow_AwaitExpertsOp : MoEFlow_Op<"await_experts",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "completes an expert-split prefetch with the experts the "
                "routing names";
  let description = [{
    `input` is the result of a `moeflow.prefetch_experts`; `routed` (i32
    indices of any shape, each outside `[0, experts)` ignored) names the
    experts the reader uses. The slices of the routed experts that the
    prefetch's prediction did not name are copied now, and `result` (the
    value of `input`) holds every routed expert in the prefetch's `to` tier;
    the slices of the other experts are undefined there, so its readers must
    touch routed experts only (the expert GEMMs of a layer whose dispatch
    reads the same indices). The runtime counts the routed experts the
    prediction had copied (hits), the ones copied here (misses), and the
    predicted experts nothing routes to.
  }];
  let arguments = (ins AnyRankedTensor:$input, MoEFlow_ExpertIndices:$routed);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `routed` `(` $routed `:` type($routed) `)` attr-dict `:`
    type($input)
  }];
  let hasVerifier = 1;
}

#endif // MOEFLOW_IR_MOEFLOWOPS_TD
