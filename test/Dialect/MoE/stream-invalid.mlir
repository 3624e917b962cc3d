// RUN: moe-opt %s --moe-shard --moe-stream=chunks=5 -verify-diagnostics -split-input-file
// RUN: not moe-opt %s --moe-shard --moe-stream=chunks=0 2>&1 | FileCheck %s --check-prefix=ZERO

// ZERO: error: moe-stream option chunks must be positive, got 0

// Tests that a chunk count above the rank's local tokens (4 here) is a
// located error on the layer's dispatch.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @mixtral(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>,
      %g: tensor<4x32x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    // expected-error @+1 {{'moe.dispatch' op cannot be streamed in 5 chunks: the rank has only 4 tokens (moe-stream chunks must be at most the local token count)}}
    %y = moe.layer %x router %r experts gate %g up %u down %d
        routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
