// OLMoE block (allenai/OLMoE-1B-7B-0924, `OlmoeSparseMoeBlock`).
//
// Kept from the real config: 64 experts, softmax scoring, top-8 with NO
// renormalisation (norm_topk_prob = false), SiLU-gated experts, no shared
// expert, Hugging Face `out_in` layout.
// Scaled down for CPU: hidden 2048 -> 128, expert intermediate 1024 -> 64,
// 32 tokens, bf16 -> f32.

func.func @olmoe(%x: tensor<32x128xf32>,
                 %router: tensor<64x128xf32>,
                 %gate_proj: tensor<64x64x128xf32>,
                 %up_proj: tensor<64x64x128xf32>,
                 %down_proj: tensor<64x128x64xf32>) -> tensor<32x128xf32> {
  %y = moe.layer %x router %router experts gate %gate_proj up %up_proj down %down_proj
      routing <scoring = softmax, top_k = 8>
      activation silu layout out_in
      : (tensor<32x128xf32>, tensor<64x128xf32>, tensor<64x64x128xf32>,
         tensor<64x64x128xf32>, tensor<64x128x64xf32>) -> tensor<32x128xf32>
  return %y : tensor<32x128xf32>
}
