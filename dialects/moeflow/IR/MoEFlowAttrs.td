//===- MoEFlowAttrs.td - moeflow dialect enums and attributes -*- tablegen -*-===//

#ifndef MOEFLOW_IR_MOEFLOWATTRS_TD
#define MOEFLOW_IR_MOEFLOWATTRS_TD

include "moeflow/IR/MoEFlowBase.td"

def MoEFlow_Reduction : I32EnumAttr<"Reduction",
    "how a reducing collective combines the group's tensors", [
    I32EnumAttrCase<"sum", 0>,
    I32EnumAttrCase<"max", 1>,
    I32EnumAttrCase<"min", 2>]> {
  let cppNamespace = "::mlir::moeflow";
  let genSpecializedAttr = 0;
}

/// `#moeflow<reduction sum>` in the generic form, `reduction sum` in an op's.
def MoEFlow_ReductionAttr : EnumAttr<MoEFlow_Dialect, MoEFlow_Reduction, "reduction">;

#endif // MOEFLOW_IR_MOEFLOWATTRS_TD
