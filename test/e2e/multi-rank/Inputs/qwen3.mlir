// A Qwen3-MoE-shaped layer (softmax top-4 of 16 experts, renormalised,
// SiLU-gated experts), in the in_out layout, two layers with a residual sum,
// scaled down. PLAN is filled in by the tests with sed.
module attributes {moe.parallel = PLAN} {
  func.func @qwen3(%x: tensor<16x32xf32> {moe.input = "x"}, %r0: tensor<32x16xf32> {moe.input = "router0"},
      %r1: tensor<32x16xf32> {moe.input = "router1"},
      %g: tensor<16x32x24xf32> {moe.input = "gate"}, %u: tensor<16x32x24xf32> {moe.input = "up"},
      %d: tensor<16x24x32xf32> {moe.input = "down"}) -> tensor<16x32xf32> {
    %y0 = moe.layer %x router %r0 experts gate %g up %u down %d
        routing <scoring = softmax, top_k = 4, renormalize = true> activation silu layout in_out
        : (tensor<16x32xf32>, tensor<32x16xf32>, tensor<16x32x24xf32>, tensor<16x32x24xf32>, tensor<16x24x32xf32>) -> tensor<16x32xf32>
    %h = arith.addf %x, %y0 : tensor<16x32xf32>
    %y1 = moe.layer %h router %r1 experts gate %g up %u down %d
        routing <scoring = softmax, top_k = 4, renormalize = true> activation silu layout in_out
        : (tensor<16x32xf32>, tensor<32x16xf32>, tensor<16x32x24xf32>, tensor<16x32x24xf32>, tensor<16x24x32xf32>) -> tensor<16x32xf32>
    %out = arith.addf %h, %y1 : tensor<16x32xf32>
    return %out : tensor<16x32xf32>
  }
}
