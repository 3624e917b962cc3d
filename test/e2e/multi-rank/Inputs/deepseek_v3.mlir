// A DeepSeek-V3-shaped layer in bf16 (sigmoid scoring with a selection bias,
// group-limited top-2 of 8 experts in 4 groups, renormalised, scaled by 2.5,
// plus a shared expert), scaled down. PLAN is filled in by the tests with sed.
module attributes {moe.parallel = PLAN} {
  func.func @deepseek_v3(%x: tensor<16x32xbf16> {moe.input = "x"}, %router: tensor<8x32xbf16> {moe.input = "router"},
      %bias: tensor<8xf32> {moe.input = "bias"},
      %g: tensor<8x32x32xbf16> {moe.input = "gate"}, %u: tensor<8x32x32xbf16> {moe.input = "up"},
      %d: tensor<8x32x32xbf16> {moe.input = "down"},
      %sg: tensor<64x32xbf16> {moe.input = "shared_gate"}, %su: tensor<64x32xbf16> {moe.input = "shared_up"},
      %sd: tensor<32x64xbf16> {moe.input = "shared_down"}) -> tensor<16x32xbf16> {
    %y = moe.layer %x router %router bias %bias experts gate %g up %u down %d
        shared_gate %sg shared_up %su shared_down %sd
        routing <scoring = sigmoid, top_k = 2, renormalize = true, scaling_factor = 2.5, num_groups = 4, kept_groups = 2>
        activation silu layout out_in
        : (tensor<16x32xbf16>, tensor<8x32xbf16>, tensor<8xf32>, tensor<8x32x32xbf16>, tensor<8x32x32xbf16>, tensor<8x32x32xbf16>,
           tensor<64x32xbf16>, tensor<64x32xbf16>, tensor<32x64xbf16>) -> tensor<16x32xbf16>
    return %y : tensor<16x32xbf16>
  }
}
