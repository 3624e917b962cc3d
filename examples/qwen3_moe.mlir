// Qwen3-MoE block (Qwen/Qwen3-30B-A3B, `Qwen3MoeSparseMoeBlock`).
//
// Kept from the real config: softmax scoring, top-8 (num_experts_per_tok) with
// the chosen weights renormalised (norm_topk_prob = true), SiLU-gated experts,
// no shared expert, Hugging Face `out_in` layout.
// Scaled down for CPU: 128 experts -> 32, hidden 2048 -> 128, expert
// intermediate (moe_intermediate_size) 768 -> 64, 64 tokens (the decode shape
// of DESIGN §10), bf16 -> f32.

func.func @qwen3_moe(%x: tensor<64x128xf32>,
                     %router: tensor<32x128xf32>,
                     %gate_proj: tensor<32x64x128xf32>,
                     %up_proj: tensor<32x64x128xf32>,
                     %down_proj: tensor<32x128x64xf32>) -> tensor<64x128xf32> {
  %y = moe.layer %x router %router experts gate %gate_proj up %up_proj down %down_proj
      routing <scoring = softmax, top_k = 8, renormalize = true>
      activation silu layout out_in
      : (tensor<64x128xf32>, tensor<32x128xf32>, tensor<32x64x128xf32>,
         tensor<32x64x128xf32>, tensor<32x128x64xf32>) -> tensor<64x128xf32>
  return %y : tensor<64x128xf32>
}
