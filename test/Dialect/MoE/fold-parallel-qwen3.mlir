// RUN: moe-opt %s --moe-fold-parallel="world-size=8 num-layers=48 attention-heads=32 explain=true" | FileCheck %s --check-prefix=W8
// RUN: moe-opt %s --moe-fold-parallel="world-size=64 num-layers=48 attention-heads=32 explain=true" | FileCheck %s --check-prefix=W64
// RUN: moe-opt %s --moe-fold-parallel="world-size=64 num-layers=48 attention-heads=32 ranks-per-node=64 explain=true" | FileCheck %s --check-prefix=NVL

// Tests the plan chosen for Qwen3-30B-A3B (48 MoE layers of 128 experts,
// top-8, H = 2048, F = 768, 32 heads; one step of 8192 bf16 tokens) on 8 and
// 64 ranks, with the explanation.

// On 8 ranks: attention data-parallel, experts over ep = 4 x edp = 2.
// W8: moe-fold-parallel: world-size 8, 1 moe op(s) in the module standing for 48 MoE layer(s)
// W8-NEXT: moe-fold-parallel: layer 0: moe.layer T=8192 H=2048 E=128 K=8 F=768 gated Fs=0 C=1 rows=65536 bf16
// W8: moe-fold-parallel: 146 candidates, 146 feasible (0 fail divisibility, 0 fail memory)
// W8: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// W8-NEXT: 1 |   1   1   8   1 |   1   4   2 |    16.1 |    113.5    100.3    111.8      0.0      0.0      0.0      0.0 |    225.3
// W8-NEXT: 2 |   1   1   8   1 |   1   8   1 |     8.9 |    113.5     55.2    130.5      0.0      0.0      0.0      0.0 |    243.9
// W8-NEXT: 3 |   1   2   4   1 |   1   4   2 |    16.1 |    113.5    100.3    111.8      0.0      0.0     18.6      0.0 |    243.9
// W8: moe-fold-parallel: chose #moe.parallel<attn = {tp = 1, cp = 1, dp = 8, pp = 1}, moe = {etp = 1, ep = 4, edp = 2}>
// W8-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 8, pp = 1}, moe = {etp = 1, ep = 4, edp = 2}>} {
// W8-NEXT: func.func @qwen3_30b_a3b

// On 64 ranks in nodes of 8: the all-to-all stays inside a node (ep = 8).
// W64: moe-fold-parallel: world-size 64, 1 moe op(s) in the module standing for 48 MoE layer(s)
// W64-NEXT: moe-fold-parallel: layer 0: moe.layer T=8192 H=2048 E=128 K=8 F=768 gated Fs=0 C=1 rows=65536 bf16
// W64: moe-fold-parallel: 1596 candidates, 1567 feasible (29 fail divisibility, 0 fail memory)
// W64: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// W64-NEXT: 1 |   2   1  32   1 |   1   8   8 |     8.1 |     14.2     50.2     16.3      0.0      2.3      0.0      0.0 |     68.9
// W64-NEXT: 2 |   4   1  16   1 |   1   8   8 |     7.7 |     14.2     47.7     16.3      0.0      7.0      0.0      0.0 |     71.0
// W64-NEXT: 3 |   2   2  16   1 |   1   8   8 |     8.1 |     14.2     50.2     16.3      0.0      2.3      2.3      0.0 |     71.2
// W64: moe-fold-parallel: chose #moe.parallel<attn = {tp = 2, cp = 1, dp = 32, pp = 1}, moe = {etp = 1, ep = 8, edp = 8}>
// W64-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 32, pp = 1}, moe = {etp = 1, ep = 8, edp = 8}>} {
// W64-NEXT: func.func @qwen3_30b_a3b

// Tests that the topology options count: in one 64-rank NVLink domain the
// all-to-all may span every rank, and ep = 64 wins.
// NVL: moe-fold-parallel: world-size 64, 1 moe op(s) in the module standing for 48 MoE layer(s)
// NVL-NEXT: moe-fold-parallel: layer 0: moe.layer T=8192 H=2048 E=128 K=8 F=768 gated Fs=0 C=1 rows=65536 bf16
// NVL: moe-fold-parallel: 1596 candidates, 1567 feasible (29 fail divisibility, 0 fail memory)
// NVL: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// NVL-NEXT: 1 |   1   1  64   1 |   1  64   1 |     2.5 |     14.2     15.8     18.4      0.0      0.0      0.0      0.0 |     34.2
// NVL-NEXT: 2 |   2   1  32   1 |   1  64   1 |     1.7 |     14.2     10.8     18.4      0.0      2.3      0.0      0.0 |     34.9
// NVL-NEXT: 3 |   1   2  32   1 |   1  64   1 |     2.5 |     14.2     15.8     18.4      0.0      0.0      2.3      0.0 |     36.5
// NVL: moe-fold-parallel: chose #moe.parallel<attn = {tp = 1, cp = 1, dp = 64, pp = 1}, moe = {etp = 1, ep = 64, edp = 1}>
// NVL-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 64, pp = 1}, moe = {etp = 1, ep = 64, edp = 1}>} {
// NVL-NEXT: func.func @qwen3_30b_a3b

func.func @qwen3_30b_a3b(%x: tensor<8192x2048xbf16>, %router: tensor<128x2048xbf16>,
    %gate: tensor<128x768x2048xbf16>, %up: tensor<128x768x2048xbf16>,
    %down: tensor<128x2048x768xbf16>) -> tensor<8192x2048xbf16> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 8, renormalize = true>
      activation silu layout out_in
      : (tensor<8192x2048xbf16>, tensor<128x2048xbf16>, tensor<128x768x2048xbf16>,
         tensor<128x768x2048xbf16>, tensor<128x2048x768xbf16>) -> tensor<8192x2048xbf16>
  return %y : tensor<8192x2048xbf16>
}
