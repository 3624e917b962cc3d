// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false})' | FileCheck %s --check-prefix=GPU
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false},gpu-kernel-outlining,gpu.module(convert-gpu-to-nvvm))' | FileCheck %s --check-prefix=NVVM
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false warp-router=false})' | FileCheck %s --check-prefix=LOOP
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false vector-combine=false})' | FileCheck %s --check-prefix=ELEMENTS

// Every op of the moe dialect becomes gpu.launch kernels with static grids
// over device buffers (gpu.alloc), freed before the return; the host keeps
// only allocation, launches and gpu.memset (fills of whole buffers with a
// constant). After outlining, the kernels are NVVM.

// A router whose groups do not fall on whole lanes (8 experts in 4 groups)
// keeps the one-thread-per-token loop form.
// GPU-LABEL: func.func @router
// GPU-SAME: attributes {llvm.emit_c_interface}
// GPU: %[[WEIGHTS:.*]] = gpu.alloc () : memref<4x2xf32>
// GPU: gpu.memset %[[WEIGHTS]], %{{.*}} : memref<4x2xf32>, f32
// GPU: %[[INDICES:.*]] = gpu.alloc () : memref<4x2xi32>
// GPU: gpu.memset %[[INDICES]], %{{.*}} : memref<4x2xi32>, i32
// GPU: gpu.launch
// GPU-NOT: gpu.launch
// GPU: return
// NVVM-LABEL: gpu.module @router_kernel {
// NVVM: llvm.func @__nv_expf
// NVVM: llvm.func @router_kernel({{.*}}) attributes {gpu.kernel, gpu.known_block_size = array<i32: 32, 1, 1>{{.*}}nvvm.kernel
// NVVM: nvvm.read.ptx.sreg.tid.x
func.func @router(%logits: tensor<4x8xf32>, %bias: tensor<8xbf16>) -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %w, %i = moe.router %logits bias %bias routing <scoring = sigmoid, top_k = 2, renormalize = true, scaling_factor = 2.5, num_groups = 4, kept_groups = 2> : tensor<4x8xf32>, tensor<8xbf16> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %w, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// Other routers are one-warp-per-token kernels (convert-moe-router-to-gpu):
// 4 warps a block, results written by the kernel (no fill), shuffles in NVVM.
// GPU-LABEL: func.func @warp_router
// GPU: %[[WEIGHTS:.*]] = gpu.alloc () : memref<64x4xbf16>
// GPU: %[[INDICES:.*]] = gpu.alloc () : memref<64x4xi32>
// GPU-NOT: gpu.memset
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c16, {{.*}}) threads({{.*}}) in ({{.*}} = %c128,
// GPU: gpu.shuffle  xor
// GPU: gpu.shuffle  idx
// GPU: return %[[WEIGHTS]], %[[INDICES]]
// NVVM-LABEL: gpu.module @warp_router_kernel {
// NVVM: llvm.func @warp_router_kernel({{.*}}) attributes {gpu.kernel, gpu.known_block_size = array<i32: 128, 1, 1>{{.*}}nvvm.kernel
// NVVM: nvvm.shfl.sync  bfly
// NVVM: nvvm.shfl.sync  idx
// Without warp-router, the one-thread-per-token loop form (zero-filled
// results, no shuffles).
// LOOP-LABEL: func.func @warp_router
// LOOP: gpu.memset
// LOOP-NOT: gpu.shuffle
// LOOP: return
func.func @warp_router(%logits: tensor<64x60xf32>) -> (tensor<64x4xbf16>, tensor<64x4xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 4> : tensor<64x60xf32> -> tensor<64x4xbf16>, tensor<64x4xi32>
  return %w, %i : tensor<64x4xbf16>, tensor<64x4xi32>
}

// The offsets' prefix sum is the one sequential kernel (one thread).
// GPU-LABEL: func.func @dispatch
// GPU: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c32,
// GPU: gpu.memset %{{.*}}, %{{.*}} : memref<5xi32>, i32
// GPU: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c32,
// GPU: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1)
// GPU: gpu.memset %{{.*}}, %{{.*}} : memref<12xi32>, i32
// GPU-COUNT-2: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c32,
// GPU: gpu.dealloc
// GPU: return
// NVVM-LABEL: gpu.module @dispatch_kernel_3
// NVVM: nvvm.read.ptx.sreg.tid.x
func.func @dispatch(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>, %w: tensor<8x2xf32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<12xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx weights %w experts 4 capacity 3 drop score : tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x2xf32> -> tensor<12x16xf32>, tensor<5xi32>, tensor<12xi32>
  return %rows, %offsets, %sources : tensor<12x16xf32>, tensor<5xi32>, tensor<12xi32>
}

// Experts: row -> expert (16 threads), gate/up (16 x 32 = 512 threads),
// down (256 threads); spread over the 132 multiprocessors in warps (blocks
// of 32: 1, 16 and 8 of them).
// GPU-LABEL: func.func @experts
// GPU: gpu.alloc () : memref<16xindex>
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c1,
// GPU: gpu.alloc () : memref<16x32xbf16>
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c16, {{.*}}) threads({{.*}}) in ({{.*}} = %c32,
// GPU: %[[OUT:.*]] = gpu.alloc () : memref<16x16xbf16>
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c8,
// GPU: gpu.dealloc
// GPU: gpu.dealloc
// GPU: return %[[OUT]]
// NVVM-LABEL: gpu.module @experts_kernel_4
// NVVM: llvm.func @experts_kernel
// NVVM: nvvm.read.ptx.sreg.ctaid.x
// NVVM: nvvm.read.ptx.sreg.tid.x
func.func @experts(%rows: tensor<16x16xbf16>, %offsets: tensor<5xi32>, %g: tensor<4x32x16xbf16>, %u: tensor<4x32x16xbf16>, %d: tensor<4x16x32xbf16>) -> tensor<16x16xbf16> {
  %y = moe.experts %rows, %offsets gate %g up %u down %d activation silu layout out_in : (tensor<16x16xbf16>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<16x16xbf16>
  return %y : tensor<16x16xbf16>
}

// GPU-LABEL: func.func @combine
// GPU-COUNT-3: gpu.launch
// GPU: return
// NVVM-LABEL: gpu.module @combine_kernel
// NVVM: nvvm.read.ptx.sreg.tid.x
func.func @combine(%y: tensor<16x16xf32>, %sources: tensor<16xi32>, %w: tensor<8x2xf32>) -> tensor<8x16xf32> {
  %out = moe.combine %y, %sources, %w : tensor<16x16xf32>, tensor<16xi32>, tensor<8x2xf32> -> tensor<8x16xf32>
  return %out : tensor<8x16xf32>
}

// GPU-LABEL: func.func @null_experts
// GPU: gpu.memset %{{.*}}, %{{.*}} : memref<4x16xf32>, f32
// GPU: gpu.launch
// GPU-NOT: gpu.launch
// GPU: return
// NVVM-LABEL: gpu.module @null_experts_kernel
// NVVM: nvvm.read.ptx.sreg.tid.x
func.func @null_experts(%x: tensor<4x16xf32>, %idx: tensor<4x2xi32>, %w: tensor<4x2xf32>, %v: tensor<1x16xf32>, %mix: tensor<1x2x16xf32>) -> tensor<4x16xf32> {
  %n = moe.null_experts %x, %idx, %w constants(%v, %mix) first 4 zero 1 copy 1 constant 1 : tensor<4x16xf32>, tensor<4x2xi32>, tensor<4x2xf32>, tensor<1x16xf32>, tensor<1x2x16xf32> -> tensor<4x16xf32>
  return %n : tensor<4x16xf32>
}

// GPU-LABEL: func.func @shared_experts
// GPU-COUNT-2: gpu.launch
// GPU: gpu.memset %{{.*}}, %{{.*}} : memref<4xf32>, f32
// GPU-COUNT-2: gpu.launch
// GPU-NOT: gpu.launch
// GPU: return
// NVVM-LABEL: gpu.module @shared_experts_kernel
// NVVM: nvvm.read.ptx.sreg.tid.x
func.func @shared_experts(%x: tensor<4x16xf32>, %g: tensor<16x32xf32>, %u: tensor<16x32xf32>, %d: tensor<32x16xf32>, %sg: tensor<16xf32>) -> tensor<4x16xf32> {
  %s = moe.shared_experts %x gate %g up %u down %d sigmoid_gate %sg activation silu layout in_out : (tensor<4x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<32x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  return %s : tensor<4x16xf32>
}

// A combine of rows an expert op made (aligned: the run allocates them) is a
// kernel of 16-byte accesses (convert-moe-combine-to-gpu): 8 bf16 a thread,
// 16 tokens x 2 vectors = 32 threads, loads and stores of 128 bits in NVVM.
// GPU-LABEL: func.func @vector_combine
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c1, {{.*}}) threads({{.*}}) in ({{.*}} = %c256,
// GPU: vector.load %{{.*}}[%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<32x16xbf16>, vector<8xbf16>
// GPU: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<16x16xbf16>, vector<8xbf16>
// GPU: return
// NVVM-LABEL: gpu.module @vector_combine_kernel
// NVVM: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr -> vector<8xbf16>
// NVVM: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr
// Without vector-combine, one element a thread.
// ELEMENTS-LABEL: func.func @vector_combine
// ELEMENTS-NOT: vector.load
// ELEMENTS: return
func.func @vector_combine(%rows: tensor<32x16xbf16>, %offsets: tensor<5xi32>, %g: tensor<4x32x16xbf16>, %u: tensor<4x32x16xbf16>, %d: tensor<4x16x32xbf16>, %sources: tensor<32xi32>, %w: tensor<16x2xf32>) -> tensor<16x16xbf16> {
  %y = moe.experts %rows, %offsets gate %g up %u down %d activation silu layout out_in : (tensor<32x16xbf16>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<32x16xbf16>
  %out = moe.combine %y, %sources, %w : tensor<32x16xbf16>, tensor<32xi32>, tensor<16x2xf32> -> tensor<16x16xbf16>
  return %out : tensor<16x16xbf16>
}

// One token: the token loops fold away, and the router's sequential code
// between them runs in one-thread kernels (its scalars never reach the host).
// GPU-LABEL: func.func @single_token
// GPU: gpu.launch
// GPU: return
// NVVM-LABEL: gpu.module @single_token_kernel
func.func @single_token(%x: tensor<1x64xf32>, %router: tensor<8x64xf32>,
                        %w1: tensor<8x32x64xf32>, %w3: tensor<8x32x64xf32>,
                        %w2: tensor<8x64x32xf32>) -> tensor<1x64xf32> {
  %y = moe.layer %x router %router experts gate %w1 up %w3 down %w2
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<1x64xf32>, tensor<8x64xf32>, tensor<8x32x64xf32>,
         tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}
