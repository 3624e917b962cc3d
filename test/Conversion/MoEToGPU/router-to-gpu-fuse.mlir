// RUN: moe-opt %s -split-input-file -convert-moe-router-to-gpu=fuse-logits=true | FileCheck %s
// RUN: moe-opt %s -split-input-file -convert-moe-router-to-gpu="fuse-logits=true fuse-max-tokens=4096" | FileCheck %s --check-prefix=RAISED
// RUN: moe-opt %s -split-input-file -convert-moe-router-to-gpu | FileCheck %s --check-prefix=APART

// With fuse-logits, a router whose logits GEMM the fused router kernel runs
// (bf16, H a multiple of 64, E <= 256, at a function's top level) becomes a
// moe.fused_router, left for convert-moe-to-gpu; other routers get the warp
// kernel as without the option.
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>

// CHECK-LABEL: func.func @fits
// CHECK-NOT: linalg.matmul
// CHECK: moe.fused_router %arg0 weight %arg1 bias %arg2 routing <scoring = sigmoid, top_k = 4, renormalize = true, num_groups = 4, kept_groups = 2>
// CHECK-NOT: gpu.launch
// APART-LABEL: func.func @fits
// APART: linalg.matmul
// APART: gpu.launch
func.func @fits(%x: tensor<64x128xbf16>, %wr: tensor<64x128xbf16>, %b: tensor<64xf32>) -> (tensor<64x4xf32>, tensor<64x4xi32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x64xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<64x64xf32>) -> tensor<64x64xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %wr : tensor<64x128xbf16>, tensor<64x128xbf16>) outs(%init : tensor<64x64xf32>) -> tensor<64x64xf32>
  %w, %i = moe.router %logits bias %b routing <scoring = sigmoid, top_k = 4, renormalize = true, num_groups = 4, kept_groups = 2>
      : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x4xf32>, tensor<64x4xi32>
  return %w, %i : tensor<64x4xf32>, tensor<64x4xi32>
}

// -----

// f32 tokens: no tensor-core GEMM, so the router keeps the warp kernel.
// CHECK-LABEL: func.func @f32_tokens
// CHECK: linalg.matmul
// CHECK-NOT: moe.fused_router
// CHECK: gpu.launch
func.func @f32_tokens(%x: tensor<64x128xf32>, %wr: tensor<8x128xf32>) -> (tensor<64x2xf32>, tensor<64x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<64x8xf32>) -> tensor<64x8xf32>
  %logits = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
      ins(%x, %wr : tensor<64x128xf32>, tensor<8x128xf32>) outs(%init : tensor<64x8xf32>) -> tensor<64x8xf32>
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2> : tensor<64x8xf32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return %w, %i : tensor<64x2xf32>, tensor<64x2xi32>
}

// -----

// Inside a loop (a chain's iterations, say) neither kernel takes the router.
// CHECK-LABEL: func.func @in_loop
// CHECK: scf.for
// CHECK: linalg.matmul
// CHECK: moe.router
// CHECK-NOT: moe.fused_router
func.func @in_loop(%x: tensor<64x128xbf16>, %wr: tensor<8x128xbf16>, %n: index) -> tensor<64x2xi32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %i0 = tensor.empty() : tensor<64x2xi32>
  %r = scf.for %k = %c0 to %n step %c1 iter_args(%acc = %i0) -> (tensor<64x2xi32>) {
    %e = tensor.empty() : tensor<64x8xf32>
    %init = linalg.fill ins(%zero : f32) outs(%e : tensor<64x8xf32>) -> tensor<64x8xf32>
    %logits = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
        ins(%x, %wr : tensor<64x128xbf16>, tensor<8x128xbf16>) outs(%init : tensor<64x8xf32>) -> tensor<64x8xf32>
    %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2> : tensor<64x8xf32> -> tensor<64x2xf32>, tensor<64x2xi32>
    scf.yield %i : tensor<64x2xi32>
  }
  return %r : tensor<64x2xi32>
}

// -----

// More tokens than fuse-max-tokens (default 2112): the GEMM and the warp
// kernel stay apart, as the warp kernel routes a prefill's tokens on more
// warps at once.
// CHECK-LABEL: func.func @many_tokens
// CHECK: linalg.matmul
// CHECK-NOT: moe.fused_router
// CHECK: gpu.launch
func.func @many_tokens(%x: tensor<4096x128xbf16>, %wr: tensor<8x128xbf16>) -> (tensor<4096x2xf32>, tensor<4096x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4096x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<4096x8xf32>) -> tensor<4096x8xf32>
  %logits = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
      ins(%x, %wr : tensor<4096x128xbf16>, tensor<8x128xbf16>) outs(%init : tensor<4096x8xf32>) -> tensor<4096x8xf32>
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2> : tensor<4096x8xf32> -> tensor<4096x2xf32>, tensor<4096x2xi32>
  return %w, %i : tensor<4096x2xf32>, tensor<4096x2xi32>
}
// RAISED-LABEL: func.func @many_tokens
// RAISED: moe.fused_router
