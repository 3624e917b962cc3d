// Composition of experts (SambaNova SN40L, Prabhakar et al., 2024, "SambaNova
// SN40L: Scaling the AI Memory Wall with Dataflow and Composition of Experts").
//
// A router picks one whole expert model per request (argmax of the selector
// logits, ties to the lower index); every model is a func.func taking one
// request's tokens [S, H] and returning [S, H]. The models' weights live in
// host memory between requests (weights_tier = #moe.tier<host>) and the chosen
// model's weights are streamed up before it runs.
// Kept: the structure (3 expert models of different MoE families, per-request
// selection, host-resident weights). Scaled down for CPU: 4 requests of 16
// tokens, hidden 64, expert intermediate 128, f32.
//
// The composition verifier requires each model to take exactly one tensor, so
// the models' weights are constants inside them (placeholder splat values; a
// deployment would load them from each model's checkpoint).

// Mixtral-style chat model: softmax top-2 of 8, renormalised.
func.func private @chat(%x: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %router = arith.constant dense<0.02> : tensor<8x64xf32>
  %gate = arith.constant dense<0.01> : tensor<8x128x64xf32>
  %up = arith.constant dense<0.01> : tensor<8x128x64xf32>
  %down = arith.constant dense<0.01> : tensor<8x64x128xf32>
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
         tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// Qwen3-MoE-style coding model: softmax top-4 of 16, renormalised.
func.func private @coder(%x: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %router = arith.constant dense<0.03> : tensor<16x64xf32>
  %gate = arith.constant dense<0.02> : tensor<16x128x64xf32>
  %up = arith.constant dense<0.02> : tensor<16x128x64xf32>
  %down = arith.constant dense<0.02> : tensor<16x64x128xf32>
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 4, renormalize = true>
      activation silu layout out_in
      : (tensor<16x64xf32>, tensor<16x64xf32>, tensor<16x128x64xf32>,
         tensor<16x128x64xf32>, tensor<16x64x128xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// DeepSeek-V3-style math model: sigmoid top-4 of 16 in 4 groups (2 kept),
// renormalised and scaled by 2.5, plus one shared expert.
func.func private @math(%x: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %router = arith.constant dense<0.01> : tensor<16x64xf32>
  %bias = arith.constant dense<0.0> : tensor<16xf32>
  %gate = arith.constant dense<0.03> : tensor<16x128x64xf32>
  %up = arith.constant dense<0.03> : tensor<16x128x64xf32>
  %down = arith.constant dense<0.03> : tensor<16x64x128xf32>
  %shared_gate = arith.constant dense<0.01> : tensor<128x64xf32>
  %shared_up = arith.constant dense<0.01> : tensor<128x64xf32>
  %shared_down = arith.constant dense<0.01> : tensor<64x128xf32>
  %y = moe.layer %x router %router bias %bias
      experts gate %gate up %up down %down
      shared_gate %shared_gate shared_up %shared_up shared_down %shared_down
      routing <scoring = sigmoid, top_k = 4, renormalize = true,
               scaling_factor = 2.5, num_groups = 4, kept_groups = 2>
      activation silu layout out_in
      : (tensor<16x64xf32>, tensor<16x64xf32>, tensor<16xf32>,
         tensor<16x128x64xf32>, tensor<16x128x64xf32>, tensor<16x64x128xf32>,
         tensor<128x64xf32>, tensor<128x64xf32>, tensor<64x128xf32>)
      -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// 4 requests, each routed to one of [@chat, @coder, @math] by its selector row.
func.func @composition_of_experts(%selector: tensor<4x3xf32>,
                                  %requests: tensor<4x16x64xf32>)
    -> tensor<4x16x64xf32> {
  %y = moe.composition %selector, %requests models [@chat, @coder, @math]
      {weights_tier = #moe.tier<host>}
      : tensor<4x3xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return %y : tensor<4x16x64xf32>
}
