// Union-of-experts transformer block (Yang et al., 2025, "Union of Experts:
// Adapting Hierarchical Routing to Equivalently Decomposed Transformer").
//
// Both halves of the block are mixtures over slices of one dense module:
// * selective multi-head attention (SMHA): the 8 heads are the experts; the
//   gate softmax(X . Wg + b) keeps each token's top-2 heads, and every
//   (head, sequence) attends over its capacity = S/2 = 16 best tokens only
//   (compacted, causal, RoPE with theta 10000); outputs scatter-add back;
// * union-of-MLP-experts (UoME): one SwiGLU FFN of width 512 cut into 8
//   column/row slices of 64; each slice keeps floor(S/2) = 16 tokens per
//   sequence (the default capacity).
// Gate values select tokens; they do not scale the outputs. Residuals around
// both halves as in a pre-norm block (the norms are left out).
// Scaled down for CPU: batch 2, sequence 32, model size 128, head size 16,
// f32.

func.func @union_of_experts_block(%x: tensor<2x32x128xf32>,
                                  %attn_gate: tensor<128x8xf32>,
                                  %attn_gate_bias: tensor<8xf32>,
                                  %wq: tensor<8x128x16xf32>,
                                  %wk: tensor<8x128x16xf32>,
                                  %wv: tensor<8x128x16xf32>,
                                  %wo: tensor<8x16x128xf32>,
                                  %ffn_router: tensor<128x8xf32>,
                                  %ffn_router_bias: tensor<8xf32>,
                                  %ffn_gate: tensor<128x512xf32>,
                                  %ffn_up: tensor<128x512xf32>,
                                  %ffn_down: tensor<512x128xf32>)
    -> tensor<2x32x128xf32> {
  %attn = moe.union_attention %x gate %attn_gate, %attn_gate_bias
      qkv %wq, %wk, %wv output %wo top_k 2 capacity 16 {rope_theta = 10000.0 : f64}
      : (tensor<2x32x128xf32>, tensor<128x8xf32>, tensor<8xf32>,
         tensor<8x128x16xf32>, tensor<8x128x16xf32>, tensor<8x128x16xf32>,
         tensor<8x16x128xf32>) -> tensor<2x32x128xf32>
  %h = arith.addf %x, %attn : tensor<2x32x128xf32>
  %ffn = moe.union_ffn %h router %ffn_router, %ffn_router_bias
      ffn gate %ffn_gate up %ffn_up down %ffn_down experts 8 activation silu
      : (tensor<2x32x128xf32>, tensor<128x8xf32>, tensor<8xf32>,
         tensor<128x512xf32>, tensor<128x512xf32>, tensor<512x128xf32>)
      -> tensor<2x32x128xf32>
  %y = arith.addf %h, %ffn : tensor<2x32x128xf32>
  return %y : tensor<2x32x128xf32>
}
