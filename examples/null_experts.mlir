// Null ("zero-computation") experts and dynamic experts per token.
//
// @moe_plus_plus mirrors MoE++ (Jin et al., 2024, "MoE++: Accelerating
// Mixture-of-Experts Methods with Zero-Computation Experts"), MoE++ 7B/(16+4)E:
// 16 FFN experts plus 4 zero-computation experts -- 1 zero expert (output 0),
// 1 copy expert (output x) and 2 constant experts (output a1*x + a2*v_j with
// [a1, a2] = softmax(W_j x)) -- softmax scoring, top-2, no renormalisation.
// Null experts take router slots but no GEMM; they are the last logit columns
// (routed, then zero, copy, constant). Kept: the expert counts, top-2.
// Scaled down for CPU: hidden 128, expert intermediate 128, 32 tokens, f32.
// This example uses the `in_out` layout (y = x . W, the layout a GEMM reads
// directly): router [H, E], gate/up [E, H, F], down [E, F, H].
// (MoE++'s gating residuals, which add the previous layer's router logits, are
// not part of the block and are left out.)
//
// @adamoe_top_p mirrors dynamic routing with null experts in the style of
// AdaMoE (Zeng et al., 2024: zero experts added to a Mixtral-8-expert router,
// top-k raised so a token may use fewer real experts) with top-p selection
// (Huang et al., 2024, p = 0.4): each token keeps the smallest prefix of its
// sorted scores that reaches 0.4, between 1 and 4 slots; unused slots point at
// the first zero expert with weight 0. Kept: 8 FFN experts, 4 zero experts,
// top_k 4, top_p 0.4. Scaled down: hidden 128, intermediate 256, 16 tokens,
// f32, Hugging Face `out_in` layout.

func.func @moe_plus_plus(%x: tensor<32x128xf32>,
                         %router: tensor<128x20xf32>,
                         %gate: tensor<16x128x128xf32>,
                         %up: tensor<16x128x128xf32>,
                         %down: tensor<16x128x128xf32>,
                         %constant_vectors: tensor<2x128xf32>,
                         %constant_mix: tensor<2x2x128xf32>) -> tensor<32x128xf32> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      constants(%constant_vectors, %constant_mix)
      routing <scoring = softmax, top_k = 2, zero_experts = 1, copy_experts = 1,
               constant_experts = 2>
      activation silu layout in_out
      : (tensor<32x128xf32>, tensor<128x20xf32>, tensor<16x128x128xf32>,
         tensor<16x128x128xf32>, tensor<16x128x128xf32>, tensor<2x128xf32>,
         tensor<2x2x128xf32>) -> tensor<32x128xf32>
  return %y : tensor<32x128xf32>
}

func.func @adamoe_top_p(%x: tensor<16x128xf32>,
                        %router: tensor<12x128xf32>,
                        %gate_proj: tensor<8x256x128xf32>,
                        %up_proj: tensor<8x256x128xf32>,
                        %down_proj: tensor<8x128x256xf32>) -> tensor<16x128xf32> {
  %y = moe.layer %x router %router experts gate %gate_proj up %up_proj down %down_proj
      routing <scoring = softmax, top_k = 4, top_p = 0.4, zero_experts = 4>
      activation silu layout out_in
      : (tensor<16x128xf32>, tensor<12x128xf32>, tensor<8x256x128xf32>,
         tensor<8x256x128xf32>, tensor<8x128x256xf32>) -> tensor<16x128xf32>
  return %y : tensor<16x128xf32>
}
