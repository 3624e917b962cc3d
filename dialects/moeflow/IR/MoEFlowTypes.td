//===- MoEFlowTypes.td - moeflow dialect types -------------*- tablegen -*-===//

#ifndef MOEFLOW_IR_MOEFLOWTYPES_TD
#define MOEFLOW_IR_MOEFLOWTYPES_TD

include "moeflow/IR/MoEFlowBase.td"

def MoEFlow_EventType : TypeDef<MoEFlow_Dialect, "Event"> {
  let mnemonic = "event";
  let summary = "a collective in flight; its wait yields values of the listed types";
  let description = [{
    The result of a started collective (`moeflow.all_to_all_v_start`): the
    collective is issued, its results are not available yet. `moeflow.wait`
    on the event blocks until the collective is complete and yields its
    results, of the types listed in the event type.

    ```mlir
    !moeflow.event<tensor<256x64xbf16>, tensor<4xi64>>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::Type">:$resultTypes);
  let assemblyFormat = "`<` $resultTypes `>`";
}

#endif // MOEFLOW_IR_MOEFLOWTYPES_TD
