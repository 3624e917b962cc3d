// Mixtral-8x7B MoE block (mistralai/Mixtral-8x7B-v0.1, `MixtralSparseMoeBlock`).
//
// Kept from the real config: 8 experts (num_local_experts), top-2
// (num_experts_per_tok), softmax scoring with the two chosen weights
// renormalised to sum 1, SiLU-gated experts (SwiGLU), no shared expert, and the
// Hugging Face weight layout (`out_in`: nn.Linear stores [out, in]).
// Scaled down for CPU: hidden 4096 -> 128, expert intermediate 14336 -> 256,
// 16 tokens (the decode shape of DESIGN §10), bf16 -> f32.
//
// Operands: x [T, H]; router (`gate` in HF) [E, H]; w1 (gate_proj) and
// w3 (up_proj) [E, F, H]; w2 (down_proj) [E, H, F].

func.func @mixtral_moe(%x: tensor<16x128xf32>,
                       %router: tensor<8x128xf32>,
                       %w1: tensor<8x256x128xf32>,
                       %w3: tensor<8x256x128xf32>,
                       %w2: tensor<8x128x256xf32>) -> tensor<16x128xf32> {
  %y = moe.layer %x router %router experts gate %w1 up %w3 down %w2
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<16x128xf32>, tensor<8x128xf32>, tensor<8x256x128xf32>,
         tensor<8x256x128xf32>, tensor<8x128x256xf32>) -> tensor<16x128xf32>
  return %y : tensor<16x128xf32>
}
