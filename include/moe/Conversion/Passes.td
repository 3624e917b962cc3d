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
    * `moe.composition`: a loop over requests; per request the argmax of its
      selector row (a loop over the models, strict `>` in f32: ties to the lower
      index, and a NaN never beats the running best, as in the router's top-k),
      the request's slice of `inputs`, and an `scf.index_switch` whose case `m`
      `func.call`s model `m` (the default case, unreachable, calls the last
      model); the call's result is inserted into the result. The models stay
      `func.func`s, lowered with the rest of the module. Needs flat model names
      and static per-request result sizes (an error otherwise).
    * `moe.layer` and `moe.chain` are first decomposed (as `moe-decompose`).
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

    With `tensor-cores`, for `convert-moe-to-gpu`'s tensor-core kernel (the
    conditions live in `GroupedMatmulTiles.h`):

    * a gated `out_in` `moe.experts` on bf16/f16 whose sizes the kernel's
      tiles divide becomes two `moe.grouped_matmul` (gate/up with the
      activation in the epilogue, then down);
    * the router logits GEMM (`linalg.matmul` with B transposed: 16-bit
      tokens times the `out_in` router weight `[E, H]`, into zero-filled f32
      logits; H a multiple of 64, any T and E) becomes one
      `moe.grouped_matmul` with a single group (offsets `[0, T]`, the weight
      as `[1, E, H]`) and an f32 output. A chain iteration's router, the
      leading slice `W[i]` of the chain's `[C, E, H]` weight, takes the whole
      weight as C groups with every token in group i (offsets `[0, ..., 0,
      T, ..., T]`, i + 1 zeros), so the kernel reads no strided view.
    * `moe-fuse`'s fold of the dispatch's token gather into the first expert
      GEMM (it reads the tokens through the dispatch's sources; the permuted
      copy of the tokens is not made), where that GEMM has at most
      `gather-max-columns` output columns (F). The kernel loads gathered rows
      with `cp.async` instead of TMA, which costs the GEMM about 10% on an
      H100, while the fold saves a pass over the `[T·K, H]` rows: it pays for
      small F (Qwen3-30B-A3B F = 768: prefill 3.2 -> 2.7 ms; DeepSeek-V3
      F = 2048: 13.7 -> 12.2 ms) and not for Mixtral's F = 14336 (5.2 ->
      5.7 ms).
  }];
  let options = [
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"false",
           "Emit moe.grouped_matmul for expert FFNs and router logits that "
           "fit the tensor-core kernel of convert-moe-to-gpu">,
    Option<"gatherMaxColumns", "gather-max-columns", "uint64_t",
           /*default=*/"8192",
           "With tensor-cores: fold the dispatch's token gather into the "
           "first expert GEMM (moe-fuse) when its output has at most this "
           "many columns (0: never)">
  ];
  // moe: the router logits' moe.grouped_matmul may be the first moe op of a
  // module (a bare linalg.matmul input).
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::moe::MoEDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def ConvertMoERouterToGPU : Pass<"convert-moe-router-to-gpu",
                                  "::mlir::func::FuncOp"> {
  let summary = "Lowers moe.router (scoring and top-k) to a one-warp-per-token "
                "GPU kernel";
  let description = [{
    Each `moe.router` at a function's top level becomes, on tensors, one
    `gpu.launch` of `warps-per-block` warps a block, one warp per token: it
    reads `bufferization.to_buffer read_only` of the logits (and bias) and
    writes two `memref.alloc` buffers that `bufferization.to_tensor restrict
    writable` returns as the weights and indices, so bufferization and
    `moe-map-loops-to-gpu` take the kernel as they take the others.

    Lane l holds experts l·c .. l·c+c-1 (c = ceil(E/32)) in registers. The
    softmax's maximum and sum, the group scores of group-limited selection
    (a group spans a power of two of lanes) and each of the K arg-max rounds
    are butterflies of `gpu.shuffle xor`. Selection is the CPU lowering's
    exactly: the lower expert wins a tie and a NaN wins only as the first
    expert not taken yet; weights equal it up to the rounding of the softmax
    sum (butterfly order) and of the device's `exp`.

    A router the kernel does not take keeps its op (and then the loop form
    of `convert-moe-to-parallel-linalg`): inside a loop (the kernel's
    buffers would be allocated in host control flow), E dynamic or above
    512, top-k above 32, or groups that do not fall on a power of two of
    whole lanes.

    With `fuse-logits`, a router whose logits come from moe-decompose's
    logits GEMM and that the fused router kernel of `convert-moe-to-gpu`
    runs (`chooseFusedRouterTiles`, GroupedMatmulTiles.h: bf16/f16,
    static sizes, H a multiple of 64, E <= 256, and the warp kernel's
    conditions; operands that are not `tensor.extract_slice` views) becomes
    a `moe.fused_router` instead (`moe-fuse`'s pattern), which stays an op
    until that pass: the GEMM, scoring and top-k run in one kernel and the
    logits never reach memory as a tensor of their own. Only up to
    `fuse-max-tokens` tokens: the fused kernel routes with the 8 consumer
    warps of its one block an SM, so a prefill's thousands of tokens wait
    in line there, where the warp kernel spreads them over every warp an
    SM holds (H100, Qwen3-30B-A3B prefill, T = 8192: 58 us fused against
    about 43 us for the two kernels; decode, T = 64: 12 us against 21).
  }];
  let options = [
    Option<"warpsPerBlock", "warps-per-block", "int64_t", /*default=*/"4",
           "Tokens (warps) a block, 1 to 32: few enough that a decode "
           "layer's tokens spread over many SMs">,
    Option<"fuseLogits", "fuse-logits", "bool", /*default=*/"false",
           "Fuse routers with their logits GEMM into moe.fused_router where "
           "convert-moe-to-gpu's fused router kernel runs them">,
    Option<"fuseMaxTokens", "fuse-max-tokens", "int64_t", /*default=*/"2112",
           "Fuse only routers of at most this many tokens (default: two for "
           "each consumer warp of a 132-SM grid; moe-cuda-pipeline passes "
           "16 x its multiprocessors)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def ConvertMoECombineToGPU : Pass<"convert-moe-combine-to-gpu",
                                   "::mlir::func::FuncOp"> {
  let summary = "Lowers moe.combine to a GPU kernel of 16-byte row accesses";
  let description = [{
    Each `moe.combine` at a function's top level becomes, on tensors, the
    slot rows of the parallel form (the row of each slot t·K+k, the inverse
    of `sources`) and one `gpu.launch` in which a thread owns 16 bytes of a
    token's result row: for each slot in order it loads 16 bytes of the
    slot's expert row (`vector.load` aligned to 16: one 128-bit load), scales
    them by the slot's weight and adds in f32, then stores 16 bytes. The
    kernel reads `bufferization.to_buffer read_only` of its operands and
    writes a `memref.alloc` that `bufferization.to_tensor restrict writable`
    returns, as `convert-moe-router-to-gpu` does.

    The parallel form's numerics: f32 accumulation in slot order, and a slot
    without a row adds nothing.

    A combine the kernel does not take keeps its op (and then the parallel
    form of `convert-moe-to-parallel-linalg`): inside a loop, dynamic shapes,
    elements of other than 16 or 32 bits, rows that are not whole 16-byte
    vectors, a result type other than the rows', or rows that are not the
    result of a moe op (a run's own allocation, whose base is aligned).
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads a block, a multiple of 32 from 32 to 1024">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def ConvertGroupedMatmulToLinalg : Pass<"convert-grouped-matmul-to-linalg"> {
  let summary = "Lowers moe.grouped_matmul on tensors to a loop over experts "
                "of linalg matmuls (the tensor-core forms' numerics on the CPU)";
  let description = [{
    `moe-cpu-pipeline{parallel-forms=true tensor-cores=true}` runs it after
    `convert-moe-to-parallel-linalg{tensor-cores}`, so that the tensor-level
    forms meant for `convert-moe-to-gpu` (expert FFNs, router logits) are
    checked against the reference without a GPU. Each `moe.grouped_matmul` on
    tensors becomes exactly its documented semantics:

    * one `scf.for` over the experts `e`; an expert with rows takes the
      dynamic slice `rows[offsets[e], offsets[e+1])`, multiplies it by
      `weight[e]` (and `gate[e]`) transposed with `linalg.matmul` into a fresh
      f32 accumulator, applies `act(gate) * up` in f32 (a `linalg.generic`),
      narrows to the element type of `init` and inserts the block into the
      result; experts without rows are skipped;
    * the loop carries `init`, so rows outside `[offsets[0], offsets[E])` keep
      it.

    A `moe.grouped_matmul` on buffers has no CPU lowering (an error: run the
    pass before bufferization).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def ConvertMoEToGPU : Pass<"convert-moe-to-gpu", "::mlir::func::FuncOp"> {
  let summary = "Lowers moe.grouped_matmul and moe.fused_router on buffers to "
                "Hopper tensor-core kernels (TMA, mbarrier pipeline, wgmma)";
  let description = [{
    Each `moe.grouped_matmul` on memrefs becomes TMA descriptors made on the
    host (`nvgpu.tma.create.descriptor`, 128-byte swizzle, zero fill past the
    rows) and one `gpu.launch`:

    * a persistent grid of min(`multiprocessors`, the most tiles there can
      be) blocks. Each block first writes, in shared memory, prefix[e] = the
      128-row tiles of experts 0..e-1 from the run-time offsets (so experts
      without rows have no tiles and no tile mixes experts), then walks the
      tiles t = block, block + grid, ... of (row tiles x column tiles). Tile t
      is rasterised in groups of 8 row tiles that walk every column tile
      before the next group starts (the blocks running together share a few
      weight column tiles and a few row tiles in L2); its expert comes from a
      binary search of the prefix;
    * 384 threads = three warpgroups, warp-specialised (`nvvm.setmaxregister`:
      40 registers for the producer, 232 for the consumers). One thread of
      warpgroup 0 streams every K-slice of 64 of the block's tiles into a
      ring of `depth` stages with `nvgpu.tma.async.load`, each stage with a
      `full` mbarrier (expect_tx) and an `empty` one (both consumers
      arrive); since it runs ahead across tiles, the next tile's loads are
      in flight during an epilogue. A tile with at most 16 (64) rows loads a
      16- (64-) row box of A instead of 128: wgmma still reads 64 rows, but
      rows past the tile's end only feed outputs that are not stored, so
      decode tiles (a few tokens an expert) stream little more than weights.
      With gathered rows (`gather %sources slots K`, from `moe-fuse`) TMA
      loads only the weights: all 128 producer threads read the tile ring,
      and thread p copies 16-byte chunk p % 8 of the tile's rows p / 8 + 16i
      before the expert's end from token `sources[r] / K` (`cp.async`,
      zero-filled for a negative source) to where a 128-byte swizzled TMA box
      would put them, commits them as one group per K-slice, and arrives on
      `full` for the slice depth - 2 back once its copies landed
      (`cp.async.wait_group`, then `fence.proxy.async` so that wgmma's async
      proxy sees them);
    * warpgroups 1 and 2 own 64 rows of a tile each and run
      `nvvm.wgmma.mma_async` m64 n`N` k16 (bf16/f16 in, f32 accumulators in
      registers) on 128-byte swizzled K-major shared-memory tiles, keeping
      one commit group in flight (`wgmma.wait_group 1`) and releasing a
      stage as soon as the wgmmas that read it are done. A warpgroup whose
      64 rows all lie past the expert's end (the last tile of an expert)
      skips the wgmmas and only releases the stages;
    * epilogue in registers: with a gate, the B tile holds the gate rows then
      the up rows, so each thread has both halves of its columns and applies
      `act(gate) * up` before narrowing to the output type (an f32 output is
      stored as accumulated); rows of the tile past the expert's end, and
      columns past N in a partial last column tile, are not stored.

    Tiles come from `chooseGroupedMatmulTiles` (include/moe/Conversion/MoEToGPU):
    128 rows, 128 output columns when gated (wgmma n256), else 256 or 128
    when they divide N, else one tile of N rounded up to 8 (N <= 256) or
    256-column tiles with the last one partial (TMA zero-fills weight rows
    past E·N; columns past N are computed but not stored); four stages (up to
    48 KiB each) when they fit. Operands must be 16-bit floats with static
    shapes, K a multiple of 64 and, with a gate, N a multiple of 128 (a
    located error otherwise).

    Each `moe.fused_router` on memrefs becomes the same kernel for its logits
    GEMM (one group of all T rows, N = E <= 256 in one column tile, f32
    accumulators) with two changes (`chooseFusedRouterSplit`,
    `chooseFusedRouterTiles`, GroupedMatmulTiles.h):

    * the GEMM's K-slices are split into S ranges (at most 8, at least 4
      slices each, S = multiprocessors / row tiles when that is smaller) and
      a split takes the column tile's place in the schedule, so a decode
      step's single row tile still spreads over S blocks. A consumer
      warpgroup stores its split's partial logits (f32, a [S, T, E] device
      buffer), makes them visible to the GPU (`membar.gl`), meets its
      warpgroup at a named barrier and counts itself in at the row tile's
      arrivals (an atomic add);
    * once a block's consumers saw the last tile taken, every consumer warp
      of the grid routes tokens w, w + W, ... (W = 8 x blocks): lane 0 waits
      (atomic reads, `nanosleep`) until the token's row tile has all its
      arrivals, the warp meets (`bar.warp.sync`), each lane sums its
      experts' partials in split order (the same sum in every run) and the
      warp scores and selects as `convert-moe-router-to-gpu`'s kernel does.
      Every tile was taken by a running block whose GEMM tiles wait on no
      other block, so the waits end without assuming co-resident blocks.

    The [T, E] logits are never a tensor of their own, and the router costs
    one launch instead of two.
  }];
  let options = [
    Option<"multiprocessors", "multiprocessors", "int64_t", /*default=*/"132",
           "Blocks of the persistent grid at most: the target's streaming "
           "multiprocessors (132 on H100 SXM and H200). Fewer SMs only run "
           "the blocks in more than one wave">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def MoEElideStreamSyncs : Pass<"moe-elide-stream-syncs", "::mlir::func::FuncOp"> {
  let summary = "Removes the host synchronizations that gpu-async-region puts "
                "before runtime calls ordered on the stream themselves";
  let description = [{
    `gpu-async-region` ends the asynchronous chain with a host
    synchronization (`gpu.wait [%t]`) before every op with side effects it
    does not know, and starts a new chain (`gpu.wait async`) after. Some of
    those ops are runtime calls that order their own device work on the
    run's stream and never read device data on the host:

    * `mgpuTensorMapEncodeTiledMemref` (a TMA descriptor of an
      `nvgpu.tma.create.descriptor`: host encoding from the memref's
      metadata, then a stream-ordered copy of 128 bytes),
    * `moert_tier_fetch_start` / `moert_tier_fetch_wait` /
      `moert_tier_fetch_release` (docs/memory-tiers.md: stream-ordered
      allocations and frees and events on the run's stream and the
      session's copy stream),

    together with the `llvm.alloca`/`llvm.store`/`llvm.getelementptr` that
    build their stack arguments. When everything between a synchronization
    and the next chain start is such calls or side-effect-free ops, the
    synchronization is removed and the chain goes on with the same token. On
    an H200 these synchronizations were 150–200 µs of each layer's time
    (the device idle while the host waited, encoded and launched again).
    Runs after `gpu-async-region`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
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
      iteration a thread, a bound check for the last block). With
      `multiprocessors`, a static iteration count below block-size ×
      multiprocessors gets blocks of ⌈count / multiprocessors⌉ threads
      rounded up to a warp: the router's one-thread-per-token top-k of a
      4096-token prefill ran in 16 blocks of 256 threads, i.e. on 16 of 132
      multiprocessors;
    * any other top-level op that reads or writes memory (a sequential loop, a
      scalar store) runs in a one-thread `gpu.launch`, so the host never
      dereferences device memory;
    * parallel loops nested inside a kernel run sequentially in its thread;
    * a top-level `scf.parallel` that stores one 16- or 32-bit
      `arith.constant` to every element of a static, identity-layout buffer
      becomes `gpu.memset` (cuMemsetD16/D32Async: near the copy bandwidth,
      where a one-element-per-thread fill kernel reached 0.8 TB/s);
    * host `memref.alloc`/`memref.dealloc` become `gpu.alloc`/`gpu.dealloc`
      (a buffer freed by the function itself is not freed again at its
      return), and constants read by kernels (`memref.get_global`) are copied
      to the device.

    The grid of every launch depends only on shapes, never on data, so a whole
    function can be captured in a CUDA graph. A host op whose result would
    need device data (a sequential loop yielding a value used by the host) is
    an error.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block of the parallel-loop kernels">,
    Option<"multiprocessors", "multiprocessors", "int64_t", /*default=*/"0",
           "Streaming multiprocessors of the target (0: not known): a loop "
           "with a static trip count too small to give each of them a "
           "block of block-size threads gets smaller blocks (a multiple of "
           "32, at least 32) spread over all of them">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def ConvertMoEFlowToRuntime : Pass<"convert-moeflow-to-runtime",
                                   "::mlir::ModuleOp"> {
  let summary = "Lowers moeflow collectives and prefetches to calls of the "
                "runtime's moert_comm_* and moert_tier_* C ABIs";
  let description = [{
    Each `moeflow` collective becomes one call of the collective ABI of
    `docs/multi-rank.md` §4 (exported by libmoert, declared in
    `runtime/src/comm/CommAbi.h`); `shard.process_multi_index` becomes one
    `moert_comm_grid_index(axis)` call per axis. The pass runs on tensors,
    just before one-shot bufferization (`moe-cpu-pipeline` runs it after
    `convert-moe-to-linalg`): operands are passed through
    `bufferization.to_buffer read_only` (identity layout, so contiguous) and
    results are fresh `memref.alloc`s that the call writes, read back through
    `bufferization.to_tensor restrict writable`; bufferization then leaves
    exactly these buffers.

    | op | call |
    |---|---|
    | `all_to_all_v` | `moert_comm_all_to_all_v(group, send, send_counts, send_rows, recv, recv_counts, recv_rows, row_bytes)` |
    | `all_to_all_v_start` + `wait` | `h = moert_comm_all_to_all_v_start(...)` (the arguments of `all_to_all_v`) where the start is; `moert_comm_all_to_all_v_wait(h, recv, recv_counts)` where the wait is, the results read from `recv`/`recv_counts` after it |
    | `all_gather` | `moert_comm_all_gather(group, send, recv, outer, block_bytes)` |
    | `reduce_scatter` | `moert_comm_reduce_scatter(group, send, recv, count, dtype, op)` |
    | `all_reduce` | `moert_comm_all_reduce(group, send, recv, count, dtype, op)` |
    | `send` / `recv` | `moert_comm_send/recv(group, peer, data, bytes)` |
    | `prefetch` (host to hbm) | `h = moert_tier_fetch_start(source, bytes)` where the prefetch is; `b = moert_tier_fetch_wait(h) : memref<?xi8>` before the op of the block that first uses (or holds a use of) the result, right after the start when nothing uses it; the result is `bufferization.to_tensor restrict` of `memref.view b[0]` with the result's type; with `release-prefetched`, `moert_tier_fetch_release(h)` after the buffer's last use |

    Pointers are `!llvm.ptr` built from `memref.extract_aligned_pointer_as_index`
    plus the offset; counts and sizes are i64 (i32 counts are widened before
    and narrowed after the call); `group` is the bit mask `sum(1 << axis)` of
    the group's axes; `dtype` is `moert_dtype_t` (f32 1, f16 2, bf16 3, i32 4,
    i64 5) and `op` the `moeflow` reduction (sum 0, max 1, min 2). A relative
    `send`/`recv` peer is computed from the rank's coordinates. `shard.grid`
    ops no longer referred to are erased. The callees are declared as private
    functions.

    The prefetch's ABI is `runtime/src/core/TierAbi.h` (`moe-plan-tiers`
    places the prefetches, `docs/memory-tiers.md`). The runtime owns the
    destination (on CUDA it may be an entry of the session's tier cache,
    shared with later runs): the wait is declared
    `(i64) -> memref<?xi8>` with `llvm.emit_c_interface` and returns it,
    and the tensor that reads it is not writable, so that a write into the
    prefetched weight copies it instead. Who frees the buffer: with
    `release-prefetched` (`moe-cuda-pipeline`, which bufferizes without
    ownership-based deallocation), a `moert_tier_fetch_release(h)` follows
    the op of the block that last uses the buffer (through any tensor that
    may alias it: a slice, a reshape, a loop result), so that it is given
    back once its layer is done; right after the wait when the result is
    unused; none when the buffer escapes the block (returned, yielded, used
    in another block): the runtime releases every fetch not released at the
    end of the run, after the outputs are read. Without
    it (`moe-cpu-pipeline`), there is no release: ownership-based
    deallocation treats the returned buffer as owned and frees it (the CPU
    runtime allocates it with `aligned_alloc`).

    Errors (located): group axes not in ascending order (the runtime numbers
    a group's members with the lowest axis most significant); dynamic sizes
    other than `all_to_all_v`'s input rows; element types without a whole-byte
    size, or without a runtime dtype for reductions; a `reduce_scatter` along a
    dimension preceded by one of size > 1; a relative peer on a dynamic grid;
    a prefetch other than host to hbm, or of more bytes than an i64 counts.
  }];
  let options = [
    Option<"releasePrefetched", "release-prefetched", "bool",
           /*default=*/"false",
           "Give each prefetched buffer back to the runtime "
           "(moert_tier_fetch_release) after its last use; without it, "
           "compiled code owns and frees the buffer (ownership-based "
           "deallocation)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect"
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
