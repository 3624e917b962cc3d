// Composition of experts (SambaNova SN40L, Prabhakar et al., 2024, "SambaNova
// SN40L: Scaling the AI Memory Wall with Dataflow and Composition of Experts").
//
// A router picks one whole expert model per request (argmax of the selector
// logits, ties to the lower index); every model is a func.func taking one
// request's tokens [S, H] and its weights, and returning [S, H]. The models'
// weights live in host memory between requests (weights_tier =
// #moe.tier<host>) and the chosen model's weights are streamed up before it
// runs.
// Kept: the structure (3 expert models of different MoE families, per-request
// selection, host-resident weights). Scaled down for CPU: 4 requests of 16
// tokens, hidden 64, expert intermediate 128, f32.
//
// Every model takes its weights as arguments after the request, and the
// composition passes them (`weights(...)`: @chat's 4, then @coder's 4, then
// @math's 8); the public function takes them all as inputs, so that each
// model's weights are bound from its own checkpoint at run time.

// Mixtral-style chat model: softmax top-2 of 8, renormalised.
func.func private @chat(%x: tensor<16x64xf32>, %router: tensor<8x64xf32>,
                        %gate: tensor<8x128x64xf32>, %up: tensor<8x128x64xf32>,
                        %down: tensor<8x64x128xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
         tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// Qwen3-MoE-style coding model: softmax top-4 of 16, renormalised.
func.func private @coder(%x: tensor<16x64xf32>, %router: tensor<16x64xf32>,
                         %gate: tensor<16x128x64xf32>,
                         %up: tensor<16x128x64xf32>,
                         %down: tensor<16x64x128xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 4, renormalize = true>
      activation silu layout out_in
      : (tensor<16x64xf32>, tensor<16x64xf32>, tensor<16x128x64xf32>,
         tensor<16x128x64xf32>, tensor<16x64x128xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// DeepSeek-V3-style math model: sigmoid top-4 of 16 in 4 groups (2 kept),
// renormalised and scaled by 2.5, plus one shared expert.
func.func private @math(%x: tensor<16x64xf32>, %router: tensor<16x64xf32>,
                        %bias: tensor<16xf32>, %gate: tensor<16x128x64xf32>,
                        %up: tensor<16x128x64xf32>,
                        %down: tensor<16x64x128xf32>,
                        %shared_gate: tensor<128x64xf32>,
                        %shared_up: tensor<128x64xf32>,
                        %shared_down: tensor<64x128xf32>) -> tensor<16x64xf32> {
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

// 4 requests, each routed to one of [@chat, @coder, @math] by its selector row;
// then the three models' weights.
func.func @composition_of_experts(
    %selector: tensor<4x3xf32>, %requests: tensor<4x16x64xf32>,
    %chat_router: tensor<8x64xf32>, %chat_gate: tensor<8x128x64xf32>,
    %chat_up: tensor<8x128x64xf32>, %chat_down: tensor<8x64x128xf32>,
    %coder_router: tensor<16x64xf32>, %coder_gate: tensor<16x128x64xf32>,
    %coder_up: tensor<16x128x64xf32>, %coder_down: tensor<16x64x128xf32>,
    %math_router: tensor<16x64xf32>, %math_bias: tensor<16xf32>,
    %math_gate: tensor<16x128x64xf32>, %math_up: tensor<16x128x64xf32>,
    %math_down: tensor<16x64x128xf32>, %math_shared_gate: tensor<128x64xf32>,
    %math_shared_up: tensor<128x64xf32>,
    %math_shared_down: tensor<64x128xf32>) -> tensor<4x16x64xf32> {
  %y = moe.composition %selector, %requests models [@chat, @coder, @math]
      weights(%chat_router, %chat_gate, %chat_up, %chat_down,
              %coder_router, %coder_gate, %coder_up, %coder_down,
              %math_router, %math_bias, %math_gate, %math_up, %math_down,
              %math_shared_gate, %math_shared_up, %math_shared_down
              : tensor<8x64xf32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>,
                tensor<8x64x128xf32>,
                tensor<16x64xf32>, tensor<16x128x64xf32>, tensor<16x128x64xf32>,
                tensor<16x64x128xf32>,
                tensor<16x64xf32>, tensor<16xf32>, tensor<16x128x64xf32>,
                tensor<16x128x64xf32>, tensor<16x64x128xf32>,
                tensor<128x64xf32>, tensor<128x64xf32>, tensor<64x128xf32>)
      {weights_tier = #moe.tier<host>}
      : tensor<4x3xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return %y : tensor<4x16x64xf32>
}
