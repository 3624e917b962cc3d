//===- MoEFlowBase.td - The moeflow dialect definition -----*- tablegen -*-===//
//
// The `moeflow` dialect: the dataflow level (DESIGN §4), still target-neutral.
//
//===----------------------------------------------------------------------===//

#ifndef MOEFLOW_IR_MOEFLOWBASE_TD
#define MOEFLOW_IR_MOEFLOWBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def MoEFlow_Dialect : Dialect {
  let name = "moeflow";
  let cppNamespace = "::mlir::moeflow";
  let summary = "What the runtime does: collectives over device groups and tier-to-tier copies";
  let description = [{
    The `moeflow` dialect is the dataflow level of MoE-MLIR: what the runtime will do,
    still target-neutral. Its ops work on tensors with value semantics, like the
    collectives of the upstream `shard` dialect, and have NCCL semantics: every rank runs
    the same program (SPMD), and every rank of a group issues the same collectives in the
    same order.

    **Groups.** A collective names its group with a symbol reference to a `shard.grid`
    (upstream `shard` dialect) and a non-empty list of that grid's axes:
    `group @grid axes [0, 2]`. The group of a rank is the set of ranks that share its
    coordinates on every axis not listed. A rank's *index in the group* is its
    coordinate along the listed axes, linearised row-major in the order the axes are
    listed (the first listed axis varies slowest). The group size is the product of the
    listed axes' sizes; where they are static, the verifiers check shapes and counts
    against it.

    **Ordering.** Collectives with results are pure (an unused one may be removed,
    the same way on every rank); `moeflow.send` and `moeflow.recv` have unknown side
    effects and are never removed or reordered.

    **Started collectives.** `moeflow.all_to_all_v_start` issues a collective
    and returns an `!moeflow.event`; `moeflow.wait` on it yields the results.
    Compute between the two overlaps the communication (docs/streaming.md).

    **Memory tiers.** `moeflow.prefetch` uses the `moe` dialect's `#moe.tier<...>`
    attribute (sram, hbm, host).
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let dependentDialects = [
    "::mlir::moe::MoEDialect",
    "::mlir::shard::ShardDialect",
    "::mlir::tensor::TensorDialect"
  ];
  let extraClassDeclaration = [{
    void registerAttributes();
    void registerTypes();
  }];
}

class MoEFlow_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoEFlow_Dialect, mnemonic, traits>;

#endif // MOEFLOW_IR_MOEFLOWBASE_TD
