// RUN: moe-opt %s --moe-fuse | FileCheck %s

// Logits that something besides the router reads (an auxiliary loss, say)
// and logits accumulated into a non-zero destination stay a GEMM of their
// own.
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>

// CHECK-LABEL: func.func @logits_read_twice
// CHECK: linalg.matmul
// CHECK: moe.router
// CHECK-NOT: moe.fused_router
func.func @logits_read_twice(%x: tensor<16x64xbf16>, %wr: tensor<8x64xbf16>)
    -> (tensor<16x2xf32>, tensor<16x2xi32>, tensor<16x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<16x8xf32>) -> tensor<16x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %wr : tensor<16x64xbf16>, tensor<8x64xbf16>) outs(%init : tensor<16x8xf32>) -> tensor<16x8xf32>
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return %w, %i, %logits : tensor<16x2xf32>, tensor<16x2xi32>, tensor<16x8xf32>
}

// CHECK-LABEL: func.func @accumulated
// CHECK: linalg.matmul
// CHECK: moe.router
// CHECK-NOT: moe.fused_router
func.func @accumulated(%x: tensor<16x64xbf16>, %wr: tensor<8x64xbf16>, %acc: tensor<16x8xf32>)
    -> (tensor<16x2xf32>, tensor<16x2xi32>) {
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %wr : tensor<16x64xbf16>, tensor<8x64xbf16>) outs(%acc : tensor<16x8xf32>) -> tensor<16x8xf32>
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return %w, %i : tensor<16x2xf32>, tensor<16x2xi32>
}
