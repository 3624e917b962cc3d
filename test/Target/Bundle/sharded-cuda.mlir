// Tests that a sharded CUDA bundle is a located error (the CUDA pipeline has
// no collective lowering yet).

// RUN: moe-translate --moe-to-bundle --bundle-shard --bundle-target=cuda %s -verify-diagnostics -o /dev/null

// expected-error @+1 {{sharded CUDA bundles are not supported yet (the CUDA pipeline has no collective lowering); without --bundle-shard the bundle runs on one rank}}
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @cuda(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
