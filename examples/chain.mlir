// Chain-of-experts block (Wang et al., 2025, "Chain-of-Experts: Unlocking the
// Communication Power of Mixture-of-Experts Models"), the CoE-2(4/64) setting.
//
// Kept from the paper: 64 experts shared by 2 iterations (C = 2), each
// iteration with a router of its own, softmax top-4 WITHOUT renormalisation,
// SiLU-gated experts, and a residual between iterations:
//   x0 = h;  x_t = x_{t-1} + sum_i g_{t,i} E_i(x_{t-1});  output x_2.
// Scaled down for CPU: hidden 128, expert intermediate 64, 32 tokens, f32,
// Hugging Face `out_in` layout (router weights [C, E, H]).

func.func @chain_of_experts(%h: tensor<32x128xf32>,
                            %routers: tensor<2x64x128xf32>,
                            %gate_proj: tensor<64x64x128xf32>,
                            %up_proj: tensor<64x64x128xf32>,
                            %down_proj: tensor<64x128x64xf32>) -> tensor<32x128xf32> {
  %y = moe.chain %h iterations 2 router %routers
      experts gate %gate_proj up %up_proj down %down_proj
      routing <scoring = softmax, top_k = 4, renormalize = false>
      activation silu layout out_in
      : (tensor<32x128xf32>, tensor<2x64x128xf32>, tensor<64x64x128xf32>,
         tensor<64x64x128xf32>, tensor<64x128x64xf32>) -> tensor<32x128xf32>
  return %y : tensor<32x128xf32>
}
