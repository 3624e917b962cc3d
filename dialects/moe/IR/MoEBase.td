//===- MoEBase.td - The moe dialect definition -------------*- tablegen -*-===//
//
// The `moe` dialect: Mixture-of-Experts layers as value-semantic tensor ops.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_IR_MOEBASE_TD
#define MOE_IR_MOEBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def MoE_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::mlir::moe";
  let summary = "Mixture-of-Experts layers as first-class, verified tensor operations";
  let description = [{
    The `moe` dialect captures Mixture-of-Experts (MoE) layers at the tensor level, with
    value semantics. A whole block is one `moe.layer` (what importers produce);
    `moe-decompose` expands it into `moe.router`, `moe.dispatch`, `moe.experts`,
    `moe.combine`, `moe.null_experts` and `moe.shared_experts`. Chain-of-experts
    (`moe.chain`), union-of-experts (`moe.union_attention`, `moe.union_ffn`) and
    composition of experts (`moe.composition`) are first-class too.

    Conventions used by every op:
    * `T` tokens, `H` hidden size, `F` expert intermediate size, `E` experts, `K` top-k.
    * Expert indices are 0-based. Routed experts come first (`[0, E_routed)`), then the
      null experts of the routing attribute: zero, copy, constant, in that order.
    * Ties between equal scores are broken towards the lower expert index.
    * Scores (softmax or sigmoid) are computed in f32 whatever the input type.

    The module attribute `moe.parallel` may carry a `#moe.parallel<...>` plan. A
    function argument may carry `moe.input = "name"`: the tensor it is bound to at run
    time (a checkpoint tensor name, where `{expert}` stands for the expert index and
    stacks per-expert tensors along the leading dimension).
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
  let extraClassDeclaration = [{
    void registerAttributes();
    /// Attaches the bufferization interfaces of destination-style moe ops.
    void attachBufferizationModels();
    /// Name of the discardable attribute holding a module's parallel plan.
    static constexpr ::llvm::StringLiteral getParallelAttrName() {
      return ::llvm::StringLiteral("moe.parallel");
    }
    /// Name of the function argument attribute naming the tensor an argument
    /// is bound to (a checkpoint tensor name; `{expert}` stacks per-expert
    /// tensors along the leading dimension).
    static constexpr ::llvm::StringLiteral getInputAttrName() {
      return ::llvm::StringLiteral("moe.input");
    }
    /// Name of the function argument attribute giving the memory tier an
    /// argument lives in (`#moe.tier`, written by moe-plan-tiers).
    static constexpr ::llvm::StringLiteral getTierAttrName() {
      return ::llvm::StringLiteral("moe.tier");
    }
    /// Name of the unit attribute the lowerings put on an `scf.for` whose
    /// iterations are independent: each writes only its own part of the
    /// loop-carried tensors and reads nothing another iteration writes. The
    /// GPU path runs such loops as parallel loops; the CPU path ignores it.
    static constexpr ::llvm::StringLiteral getIndependentIterationsAttrName() {
      return ::llvm::StringLiteral("moe.independent_iterations");
    }
  }];
}

class MoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoE_Dialect, mnemonic, traits>;

class MoE_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<MoE_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

#endif // MOE_IR_MOEBASE_TD
