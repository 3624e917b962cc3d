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

def ConvertMoEToParallelLinalg : Pass<"convert-moe-to-parallel-linalg"> {
  let summary = "Lowers moe ops to data-parallel linalg, tensor, scf and arith "
                "(the GPU path's tensor level)";
  let description = [{
    The GPU path's counterpart of `convert-moe-to-linalg`: every executable
    `moe` op becomes value-semantic upstream ops whose iteration spaces are
    static and whose elements (or loop iterations) are independent, so that
    after bufferization `moe-map-loops-to-gpu` can run each as a kernel with a
    bounded grid while the ragged expert groups stay data:

    * `moe.experts`: each sorted row's expert is looked up from the offsets at
      run time; the gate/up projection with the activation, and the down
      projection, are each a `linalg.generic` over (row, column) whose element
      is an f32 dot product. Rows past `offsets[E]` are 0; experts without rows
      cost nothing.
    * `moe.shared_experts` and float `linalg.matmul`s with f32 results (router
      logits): the same per-element form.
    * `moe.dispatch`: per-expert counts, offsets, then each expert fills its
      own rows of `sources` independently (both capacity policies), and the
      token rows are gathered per element.
    * `moe.combine`: the row of each slot (inverse of `sources`), then a
      per-element weighted sum in slot order.
    * `moe.router`, `moe.null_experts`, `moe.union_*`: the CPU lowering, whose
      token loops are marked `moe.independent_iterations`.
    * `moe.layer` and `moe.chain` are first decomposed (as `moe-decompose`).

    Results equal the CPU path's up to the order of float additions.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoEMapLoopsToGPU : Pass<"moe-map-loops-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Runs the bufferized loops of public functions as gpu.launch "
                "kernels, with their buffers in device memory";
  let description = [{
    After bufferization and `convert-linalg-to-parallel-loops`, every public
    function is split into host code and kernels:

    * a top-level `scf.parallel`, or an `scf.for` marked
      `moe.independent_iterations` (without results), becomes one `gpu.launch`
      over its flattened iteration space (`block-size` threads a block, one
      iteration a thread, a bound check for the last block);
    * any other top-level op that reads or writes memory (a sequential loop, a
      scalar store) runs in a one-thread `gpu.launch`, so the host never
      dereferences device memory;
    * parallel loops nested inside a kernel run sequentially in its thread;
    * host `memref.alloc`/`memref.dealloc` become `gpu.alloc`/`gpu.dealloc`,
      and constants read by kernels (`memref.get_global`) are copied to the
      device.

    The grid of every launch depends only on shapes, never on data, so a whole
    function can be captured in a CUDA graph. A host op whose result would
    need device data (a sequential loop yielding a value used by the host) is
    an error.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block of the parallel-loop kernels">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
