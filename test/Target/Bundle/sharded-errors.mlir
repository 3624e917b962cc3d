// Tests that a plan moe-shard cannot apply is a located error of
// --moe-to-bundle --bundle-shard (sharded-cuda.mlir: the CUDA target).

// RUN: moe-translate --moe-to-bundle --bundle-shard %s -split-input-file -verify-diagnostics -o /dev/null

// expected-error @+1 {{moe-shard could not apply the module's parallel plan (without --bundle-shard the bundle runs on one rank)}}
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @capacity(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    // expected-error @+1 {{moe-shard supports capacity-mode dispatch only when tokens are not split}}
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in capacity 3 drop position
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

