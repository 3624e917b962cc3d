// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false})' | FileCheck %s

// A chain-of-experts block of 2 iterations on the GPU. Each iteration's
// router logits GEMM is a tensor-core kernel over the chain's whole [2, 8,
// 128] router weight (every token in the iteration's group; the kernel's
// offsets are [0, 64, 64] and [0, 0, 64]) instead of a per-element kernel
// over a slice: with the four expert GEMMs, six launches of 384 threads, all
// reading the function's weight buffers in place.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: %[[ROUTERS:[a-z0-9]+]]: memref<2x8x128xbf16>
// CHECK-COUNT-6: threads({{.*}}) in ({{.*}} = %c384,
// CHECK-NOT: threads({{.*}}) in ({{.*}} = %c384,
// CHECK: return
func.func @chain(%x: tensor<64x128xbf16>, %routers: tensor<2x8x128xbf16>,
                 %gate: tensor<8x128x128xbf16>, %up: tensor<8x128x128xbf16>,
                 %down: tensor<8x128x128xbf16>) -> tensor<64x128xbf16> {
  %y = moe.chain %x iterations 2 router %routers experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = false>
      activation silu layout out_in
      : (tensor<64x128xbf16>, tensor<2x8x128xbf16>, tensor<8x128x128xbf16>,
         tensor<8x128x128xbf16>, tensor<8x128x128xbf16>) -> tensor<64x128xbf16>
  return %y : tensor<64x128xbf16>
}
