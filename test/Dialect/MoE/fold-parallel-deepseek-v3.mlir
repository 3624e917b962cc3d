// RUN: moe-opt %s --moe-fold-parallel="world-size=8 attention-heads=128 explain=true" | FileCheck %s --check-prefix=W8
// RUN: moe-opt %s --moe-fold-parallel="world-size=64 num-layers=58 attention-heads=128 explain=true" | FileCheck %s --check-prefix=W64

// Tests the plan chosen for DeepSeek-V3 (58 MoE layers of 256 routed experts,
// top-8 of 4 kept groups out of 8, one shared expert, H = 7168, F = 2048, 128
// heads; one step of 4096 bf16 tokens). The 58 layers (1.3 TB in bf16) fit
// on 64 ranks but not on 8 (fold-parallel-invalid-memory.mlir), so on 8 ranks
// the module stands for one layer.

// On 8 ranks the step is bound by weight reads (22.5 GB of experts per
// layer): every expert once (ep = 8), attention split tp = 2.
// W8: moe-fold-parallel: world-size 8, 1 moe op(s) in the module standing for 1 MoE layer(s)
// W8-NEXT: moe-fold-parallel: layer 0: moe.layer T=4096 H=7168 E=256 K=8 F=2048 gated Fs=2048 C=1 rows=32768 bf16
// W8: moe-fold-parallel: 146 candidates, 100 feasible (46 fail divisibility, 0 fail memory)
// W8: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// W8-NEXT: 1 |   2   1   4   1 |   1   8   1 |     3.1 |    625.1    917.0    228.4      0.0     65.2      0.0      0.0 |   1210.6
// W8-NEXT: 2 |   1   1   8   1 |   1   8   1 |     3.3 |    625.1    991.5    228.4      0.0      0.0      0.0      0.0 |   1219.8
// W8-NEXT: 3 |   2   2   2   1 |   1   8   1 |     3.1 |    625.1    917.0    228.4      0.0     65.2     32.6      0.0 |   1243.2
// W8: moe-fold-parallel: chose #moe.parallel<attn = {tp = 2, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 8, edp = 1}>
// W8-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 8, edp = 1}>} {
// W8-NEXT: func.func @deepseek_v3

// On 64 ranks still bound by weight reads: ep = 64 across nodes despite the
// slower all-to-all, since ep = 8 inside a node would read 8x the weights.
// W64: moe-fold-parallel: world-size 64, 1 moe op(s) in the module standing for 58 MoE layer(s)
// W64-NEXT: moe-fold-parallel: layer 0: moe.layer T=4096 H=7168 E=256 K=8 F=2048 gated Fs=2048 C=1 rows=32768 bf16
// W64: moe-fold-parallel: 1596 candidates, 839 feasible (1 fail divisibility, 756 fail memory)
// W64: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// W64-NEXT: 1 |   4   1  16   1 |   1  64   1 |    27.9 |     78.1    143.5    289.0      0.0     24.5      0.0      0.0 |    457.0
// W64-NEXT: 2 |   4   2   8   1 |   1  64   1 |    27.9 |     78.1    143.5    289.0      0.0     24.5      4.1      0.0 |    461.1
// W64-NEXT: 3 |   8   1   8   1 |   1  64   1 |    24.3 |     78.1    124.9    289.0      0.0     57.1      0.0      0.0 |    471.0
// W64: moe-fold-parallel: chose #moe.parallel<attn = {tp = 4, cp = 1, dp = 16, pp = 1}, moe = {etp = 1, ep = 64, edp = 1}>
// W64-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 4, cp = 1, dp = 16, pp = 1}, moe = {etp = 1, ep = 64, edp = 1}>} {
// W64-NEXT: func.func @deepseek_v3

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
