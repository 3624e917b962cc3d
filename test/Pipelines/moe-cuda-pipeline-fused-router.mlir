// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false})' | FileCheck %s --check-prefix=GPU
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false fused-router=false})' | FileCheck %s --check-prefix=APART
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false tensor-cores=false})' | FileCheck %s --check-prefix=ELEMENTS

// A bf16 router and its logits GEMM (E = 16 <= 256, H = 1024 a multiple of
// 64) are one kernel (moe.fused_router): 4 splits of H's 16 K-slices, their
// partial logits in a device buffer, 8 blocks of 384 threads; no other
// launch. Without fused-router, the GEMM kernel, then the warp router's.
// GPU-LABEL: func.func @fused_router
// GPU: gpu.alloc () : memref<4x64x16xf32>
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c8, {{.*}}) threads({{.*}}) in ({{.*}} = %c384,
// GPU: nvvm.wgmma.mma_async
// GPU: nvvm.bar.warp.sync
// GPU-NOT: gpu.launch
// GPU: return
// APART-LABEL: func.func @fused_router
// APART-NOT: memref<4x64x16xf32>
// APART: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c384,
// APART: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c128,
// APART: return
// Without tensor cores there is no fused kernel: an element-wise GEMM, then
// the warp router.
// ELEMENTS-LABEL: func.func @fused_router
// ELEMENTS-NOT: memref<4x64x16xf32>
// ELEMENTS: gpu.launch
// ELEMENTS: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c128,
// ELEMENTS: return
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @fused_router(%x: tensor<64x1024xbf16>, %wr: tensor<16x1024xbf16>) -> (tensor<64x2xf32>, tensor<64x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x16xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<64x16xf32>) -> tensor<64x16xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %wr : tensor<64x1024xbf16>, tensor<16x1024xbf16>) outs(%init : tensor<64x16xf32>) -> tensor<64x16xf32>
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, renormalize = true> : tensor<64x16xf32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return %w, %i : tensor<64x2xf32>, tensor<64x2xi32>
}
