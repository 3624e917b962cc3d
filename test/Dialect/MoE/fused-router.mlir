// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// moe.fused_router round-trips on tensors (with and without a bias, dynamic
// tokens) and on memrefs (no results).

// CHECK-LABEL: func.func @softmax
// CHECK: %{{.*}}:2 = moe.fused_router %arg0 weight %arg1 routing <scoring = softmax, top_k = 2, renormalize = true> outs(%arg2, %arg3) : tensor<64x256xbf16>, tensor<8x256xbf16> outs tensor<64x2xf32>, tensor<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
func.func @softmax(%x: tensor<64x256xbf16>, %wr: tensor<8x256xbf16>, %w0: tensor<64x2xf32>,
                   %i0: tensor<64x2xi32>) -> (tensor<64x2xf32>, tensor<64x2xi32>) {
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2, renormalize = true>
      outs(%w0, %i0) : tensor<64x256xbf16>, tensor<8x256xbf16> outs tensor<64x2xf32>, tensor<64x2xi32>
      -> tensor<64x2xf32>, tensor<64x2xi32>
  return %w, %i : tensor<64x2xf32>, tensor<64x2xi32>
}

// CHECK-LABEL: func.func @biased_dynamic
// CHECK: moe.fused_router %arg0 weight %arg1 bias %arg2 routing <scoring = sigmoid, top_k = 8, renormalize = true, num_groups = 8, kept_groups = 4> outs(%arg3, %arg4) : tensor<?x128xbf16>, tensor<256x128xbf16> bias tensor<256xf32> outs tensor<?x8xf32>, tensor<?x8xi64> -> tensor<?x8xf32>, tensor<?x8xi64>
func.func @biased_dynamic(%x: tensor<?x128xbf16>, %wr: tensor<256x128xbf16>, %b: tensor<256xf32>,
                          %w0: tensor<?x8xf32>, %i0: tensor<?x8xi64>) -> (tensor<?x8xf32>, tensor<?x8xi64>) {
  %w, %i = moe.fused_router %x weight %wr bias %b
      routing <scoring = sigmoid, top_k = 8, renormalize = true, num_groups = 8, kept_groups = 4>
      outs(%w0, %i0) : tensor<?x128xbf16>, tensor<256x128xbf16> bias tensor<256xf32>
      outs tensor<?x8xf32>, tensor<?x8xi64> -> tensor<?x8xf32>, tensor<?x8xi64>
  return %w, %i : tensor<?x8xf32>, tensor<?x8xi64>
}

// CHECK-LABEL: func.func @buffers
// CHECK: moe.fused_router %arg0 weight %arg1 routing <scoring = softmax, top_k = 2> outs(%arg2, %arg3) : memref<16x64xf16>, memref<8x64xf16> outs memref<16x2xf16>, memref<16x2xi32>
// CHECK-NOT: ->
func.func @buffers(%x: memref<16x64xf16>, %wr: memref<8x64xf16>, %w: memref<16x2xf16>, %i: memref<16x2xi32>) {
  moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w, %i)
      : memref<16x64xf16>, memref<8x64xf16> outs memref<16x2xf16>, memref<16x2xi32>
  return
}
