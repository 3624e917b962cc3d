// Qwen1.5/Qwen2-MoE block (Qwen/Qwen1.5-MoE-A2.7B, `Qwen2MoeSparseMoeBlock`).
//
// Kept from the real config: 60 routed experts, softmax scoring, top-4 with NO
// renormalisation (norm_topk_prob = false), SiLU-gated experts, one shared
// expert four times as wide as a routed one (shared_expert_intermediate_size =
// 4 x moe_intermediate_size) whose output is scaled by
// sigmoid(x . shared_expert_gate), Hugging Face `out_in` layout.
// Scaled down for CPU: hidden 2048 -> 128, moe_intermediate_size 1408 -> 64,
// shared_expert_intermediate_size 5632 -> 256, 32 tokens, bf16 -> f32.
//
// HF stores shared_expert_gate as nn.Linear(H, 1), weight [1, H]; the dialect
// takes it as a vector [H].

func.func @qwen2_moe(%x: tensor<32x128xf32>,
                     %router: tensor<60x128xf32>,
                     %gate_proj: tensor<60x64x128xf32>,
                     %up_proj: tensor<60x64x128xf32>,
                     %down_proj: tensor<60x128x64xf32>,
                     %shared_gate_proj: tensor<256x128xf32>,
                     %shared_up_proj: tensor<256x128xf32>,
                     %shared_down_proj: tensor<128x256xf32>,
                     %shared_expert_gate: tensor<128xf32>) -> tensor<32x128xf32> {
  %y = moe.layer %x router %router
      experts gate %gate_proj up %up_proj down %down_proj
      shared_gate %shared_gate_proj shared_up %shared_up_proj
      shared_down %shared_down_proj shared_sigmoid_gate %shared_expert_gate
      routing <scoring = softmax, top_k = 4, renormalize = false>
      activation silu layout out_in
      : (tensor<32x128xf32>, tensor<60x128xf32>, tensor<60x64x128xf32>,
         tensor<60x64x128xf32>, tensor<60x128x64xf32>, tensor<256x128xf32>,
         tensor<256x128xf32>, tensor<128x256xf32>, tensor<128xf32>)
      -> tensor<32x128xf32>
  return %y : tensor<32x128xf32>
}
