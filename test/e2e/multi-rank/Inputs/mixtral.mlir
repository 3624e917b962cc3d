// A Mixtral-shaped layer (softmax top-2, renormalised, SiLU-gated experts in
// the Hugging Face out_in layout), scaled down. PLAN and PLACEMENT are filled
// in by the tests with sed.
module attributes {moe.parallel = PLAN} {
  func.func @mixtral(%x: tensor<16x32xf32> {moe.input = "x"}, %router: tensor<8x32xf32> {moe.input = "router"},
      %w1: tensor<8x64x32xf32> {moe.input = "w1"}, %w3: tensor<8x64x32xf32> {moe.input = "w3"},
      %w2: tensor<8x32x64xf32> {moe.input = "w2"}) -> tensor<16x32xf32> {
    %y = moe.layer %x router %router experts gate %w1 up %w3 down %w2
        routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in PLACEMENT
        : (tensor<16x32xf32>, tensor<8x32xf32>, tensor<8x64x32xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>) -> tensor<16x32xf32>
    return %y : tensor<16x32xf32>
  }
}
