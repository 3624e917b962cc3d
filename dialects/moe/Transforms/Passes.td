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
    carried onto the parts. With `expand-chains`, every
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

#endif // MOE_TRANSFORMS_PASSES_TD
