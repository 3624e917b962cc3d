// DeepSeek-V3 MoE block (deepseek-ai/DeepSeek-V3, `DeepseekV3MoE` + `MoEGate`).
//
// Kept from the real config: sigmoid scoring (scoring_func = sigmoid); an
// aux-loss-free selection bias (e_score_correction_bias, f32) that shifts the
// scores used to select but never the weights; group-limited selection
// (topk_method = noaux_tc) with the routed experts in 8 groups (n_group), each
// group scored by the sum of its two best biased scores (top2_sum), the best 4
// groups kept (topk_group), then top-8 (num_experts_per_tok) within them;
// weights renormalised (norm_topk_prob = true) then scaled by
// routed_scaling_factor = 2.5; one always-on shared expert (n_shared_experts);
// SiLU-gated experts; Hugging Face `out_in` layout; bf16 activations/weights.
// Scaled down for CPU: 256 routed experts -> 64 (8 groups of 8), hidden
// 7168 -> 128, moe_intermediate_size 2048 -> 64 (the shared expert is
// n_shared_experts x 64 wide), 32 tokens.
//
// Parallel plans (8 devices): the module attribute records the model-wide
// plan (data-parallel attention, 8-way expert parallelism); the layer carries
// its own folding of the same 8 devices (attention TP 2 x DP 4, experts
// ETP 2 x EP 4). `ep` divides the 64 routed experts and `etp` the
// intermediate size 64, as the verifier requires.

module attributes {moe.parallel = #moe.parallel<attn = {dp = 8}, moe = {ep = 8}>} {
  func.func @deepseek_v3_moe(%x: tensor<32x128xbf16>,
                             %router: tensor<64x128xbf16>,
                             %e_score_correction_bias: tensor<64xf32>,
                             %gate_proj: tensor<64x64x128xbf16>,
                             %up_proj: tensor<64x64x128xbf16>,
                             %down_proj: tensor<64x128x64xbf16>,
                             %shared_gate_proj: tensor<64x128xbf16>,
                             %shared_up_proj: tensor<64x128xbf16>,
                             %shared_down_proj: tensor<128x64xbf16>)
      -> tensor<32x128xbf16> {
    %y = moe.layer %x router %router bias %e_score_correction_bias
        experts gate %gate_proj up %up_proj down %down_proj
        shared_gate %shared_gate_proj shared_up %shared_up_proj
        shared_down %shared_down_proj
        routing <scoring = sigmoid, top_k = 8, renormalize = true,
                 scaling_factor = 2.5, num_groups = 8, kept_groups = 4,
                 group_score = top2_sum>
        activation silu layout out_in
        {parallel = #moe.parallel<attn = {tp = 2, dp = 4}, moe = {etp = 2, ep = 4}>}
        : (tensor<32x128xbf16>, tensor<64x128xbf16>, tensor<64xf32>,
           tensor<64x64x128xbf16>, tensor<64x64x128xbf16>, tensor<64x128x64xbf16>,
           tensor<64x128xbf16>, tensor<64x128xbf16>, tensor<128x64xbf16>)
        -> tensor<32x128xbf16>
    return %y : tensor<32x128xbf16>
  }
}
