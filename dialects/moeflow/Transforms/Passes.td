//===- Passes.td - moeflow dialect passes ------------------*- tablegen -*-===//

#ifndef MOEFLOW_TRANSFORMS_PASSES_TD
#define MOEFLOW_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoEFlowVerifyCollectives
    : Pass<"moeflow-verify-collectives", "::mlir::ModuleOp"> {
  let summary = "Checks statically that the ranks of every group issue matching collectives";
  let description = [{
    Programs are SPMD: every rank runs the same function, and ranks diverge
    only through control flow whose condition depends on the rank's grid
    coordinates (`shard.process_multi_index`, `shard.process_linear_index`
    and values computed from them). For every entry function (a function of
    the module that no call in the module names; callees are analysed at
    their calls) and every `shard.grid` its `moeflow` collectives name, the
    pass evaluates the function once per rank of the grid, with that rank's
    constant coordinates: arithmetic folds (any op's folder), `scf.if`,
    `scf.index_switch` and `cf` branches follow their constant condition,
    `scf.for` and `scf.while` loops run their constant trip count, calls are
    followed. That gives each rank's sequence of collectives over the grid,
    which the pass then compares:

    * **Collectives.** Every group of ranks (the ranks that share their
      coordinates off the group's axes) issues the same sequence of
      `all_to_all_v`, `all_gather`, `reduce_scatter` and `all_reduce` over
      that set of axes (a started `all_to_all_v_start` is issued at its
      start, where the runtime numbers it, and matches an `all_to_all_v`;
      its wait is not a collective): the same op kind, the axes listed in the same order
      (they define the member indices), the same element type, `dim` and
      reduction; `all_gather`, `reduce_scatter` and `all_reduce` the same
      input shape; `all_to_all_v` the same trailing dimensions, receive
      capacity and count type.
    * **Point to point.** The k-th `send` from rank a to rank b in a group
      pairs with the k-th `recv` on b from a in that group; both exist and
      name the same tensor type.
    * **Progress.** Replaying the sequences with blocking collectives and
      receives (sends are buffered) completes on every rank: no rank waits
      forever on a collective of one group while a member waits on another.

    Each mismatch is an error on the op of one rank naming both ranks, with a
    note on the other rank's op. A collective under control flow the pass
    cannot evaluate (a condition or a trip count that is not a constant for
    some rank, such as one computed from function arguments or tensor data,
    an op with regions it does not model, or a grid of dynamic shape) is an
    error "cannot prove ...". Dimensions that are dynamic are not compared:
    the runtime checks the sizes it exchanges before each collective
    (docs/multi-rank.md §4). The pass changes nothing.
  }];
  let options = [
    Option<"maxSteps", "max-steps", "int64_t", /*default=*/"1000000",
           "Operations evaluated per rank and function before giving up "
           "(loops too long to unroll)">
  ];
  let dependentDialects = ["::mlir::shard::ShardDialect"];
}

#endif // MOEFLOW_TRANSFORMS_PASSES_TD
