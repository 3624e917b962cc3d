// RUN: moe-opt %s -verify-diagnostics --moe-fold-parallel="world-size=8 num-layers=58 attention-heads=128"

// Tests that nothing is chosen when no folding fits in memory: the 58 MoE
// layers of DeepSeek-V3 in bf16 (about 1.3 TB of weights) on 8 ranks of 80 GB.
// Every plan shards the experts 8 ways; the lightest also halves the routers
// with pp = 2.
// expected-error @+1 {{no parallel plan for world-size 8 fits in hbm-bytes-per-rank (80.0 GB): the lightest of the 146 plans that pass the divisibility checks needs 167.2 GB of weights per rank (attn = {tp = 4, cp = 1, dp = 1, pp = 2}, moe = {etp = 1, ep = 4, edp = 1})}}
module {
  func.func @deepseek_v3(%x: tensor<4096x7168xbf16>, %router: tensor<256x7168xbf16>,
      %bias: tensor<256xbf16>, %gate: tensor<256x2048x7168xbf16>,
      %up: tensor<256x2048x7168xbf16>, %down: tensor<256x7168x2048xbf16>,
      %shared_gate: tensor<2048x7168xbf16>, %shared_up: tensor<2048x7168xbf16>,
      %shared_down: tensor<7168x2048xbf16>) -> tensor<4096x7168xbf16> {
    %y = moe.layer %x router %router bias %bias experts gate %gate up %up down %down
        shared_gate %shared_gate shared_up %shared_up shared_down %shared_down
        routing <scoring = sigmoid, top_k = 8, renormalize = true, scaling_factor = 2.5, num_groups = 8, kept_groups = 4>
        activation silu layout out_in
        : (tensor<4096x7168xbf16>, tensor<256x7168xbf16>, tensor<256xbf16>,
           tensor<256x2048x7168xbf16>, tensor<256x2048x7168xbf16>, tensor<256x7168x2048xbf16>,
           tensor<2048x7168xbf16>, tensor<2048x7168xbf16>, tensor<7168x2048xbf16>) -> tensor<4096x7168xbf16>
    return %y : tensor<4096x7168xbf16>
  }
}
