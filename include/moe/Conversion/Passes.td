//===- Passes.td - moe conversion passes -------------------*- tablegen -*-===//

#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoEToLinalg : Pass<"convert-moe-to-linalg"> {
  let summary = "Lowers moe ops to linalg, tensor, scf and arith (the CPU path)";
  let description = [{
    Rewrites every executable `moe` op into value-semantic upstream ops that
    one-shot bufferization and the LLVM lowering understand:

    * `moe.router`: a loop over tokens; f32 softmax/sigmoid scores, optional
      selection bias, group-limited selection, top-k by repeated arg-max (ties to
      the lower index), top-p, renormalisation and scaling.
    * `moe.dispatch`: a counting sort over (token, slot): per-expert counts, capacity
      (position or score policy), offsets by prefix sum, rows copied in order.
    * `moe.experts`: a loop over experts; each expert's rows are a dynamic slice fed
      to `linalg.matmul` (f32 accumulation), the activation (and gate product) is a
      `linalg.generic`; experts without rows are skipped.
    * `moe.combine` and `moe.null_experts`: weighted row scatter-adds in f32.
    * `moe.shared_experts`: dense `linalg.matmul`s, activation, optional sigmoid gate.
    * `moe.union_ffn` / `moe.union_attention`: per (sequence, expert or head) the
      top-capacity tokens are gathered, run through the expert's FFN slice or the
      head's RoPE'd causal attention, and scatter-added back.
    * `moe.layer` and `moe.chain` are first decomposed (as `moe-decompose`).

    `moe.composition` has no CPU lowering yet and is reported with an error rather
    than left behind.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
