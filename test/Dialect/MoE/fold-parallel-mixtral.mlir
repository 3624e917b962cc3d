// RUN: moe-opt %s --moe-fold-parallel="world-size=8 num-layers=32 attention-heads=32 explain=true" | FileCheck %s --check-prefix=W8
// RUN: moe-opt %s --moe-fold-parallel="world-size=64 num-layers=32 attention-heads=32 explain=true" | FileCheck %s --check-prefix=W64
// RUN: moe-opt %s --moe-fold-parallel="world-size=8 num-layers=32 attention-heads=32 hbm-bytes-per-rank=20000000000 explain=true" | FileCheck %s --check-prefix=MEM

// Tests the plan chosen for Mixtral-8x7B (32 MoE layers of 8 experts, top-2,
// H = 4096, F = 14336, 32 heads; one step of 4096 bf16 tokens) on 8 and 64
// ranks, with the explanation.

// On 8 ranks the step is compute-bound whatever the plan (434 us); weights
// are hidden under compute from ep = 4, and ep = 4 moves fewer bytes than 8.
// W8: moe-fold-parallel: world-size 8, 1 moe op(s) in the module standing for 32 MoE layer(s)
// W8-NEXT: moe-fold-parallel: layer 0: moe.layer T=4096 H=4096 E=8 K=2 F=14336 gated Fs=0 C=1 rows=8192 bf16
// W8: moe-fold-parallel: 146 candidates, 136 feasible (0 fail divisibility, 10 fail memory)
// W8: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// W8-NEXT: 1 |   1   1   8   1 |   1   4   2 |    26.8 |    434.3    250.4     28.0      0.0      0.0      0.0      0.0 |    462.3
// W8-NEXT: 2 |   1   1   8   1 |   1   8   1 |    15.6 |    434.3    145.3     32.6      0.0      0.0      0.0      0.0 |    466.9
// W8-NEXT: 3 |   2   1   4   1 |   1   2   4 |    47.2 |    434.3    440.7     18.6      0.0     18.6      0.0      0.0 |    478.0
// W8: moe-fold-parallel: chose #moe.parallel<attn = {tp = 1, cp = 1, dp = 8, pp = 1}, moe = {etp = 1, ep = 4, edp = 2}>
// W8-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 8, pp = 1}, moe = {etp = 1, ep = 4, edp = 2}>} {
// W8-NEXT: func.func @mixtral_8x7b

// On 64 ranks (8 nodes) only 64 tokens reach a rank: the weights must be
// sharded 32 ways (etp 4 x ep 8) to hide their reads under compute.
// W64: moe-fold-parallel: world-size 64, 1 moe op(s) in the module standing for 32 MoE layer(s)
// W64-NEXT: moe-fold-parallel: layer 0: moe.layer T=4096 H=4096 E=8 K=2 F=14336 gated Fs=0 C=1 rows=8192 bf16
// W64: moe-fold-parallel: 1596 candidates, 1300 feasible (269 fail divisibility, 27 fail memory)
// W64: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// W64-NEXT: 1 |   2   1  32   1 |   4   8   2 |     5.0 |     54.3     46.3     36.7     14.0      2.3      0.0      0.0 |    107.3
// W64-NEXT: 2 |   2   2  16   1 |   4   8   2 |     5.0 |     54.3     46.3     36.7     14.0      2.3      2.3      0.0 |    109.6
// W64-NEXT: 3 |   4   1  16   1 |   2   8   4 |     6.7 |     54.3     62.6     36.7      4.7      7.0      0.0      0.0 |    111.0
// W64: moe-fold-parallel: chose #moe.parallel<attn = {tp = 2, cp = 1, dp = 32, pp = 1}, moe = {etp = 4, ep = 8, edp = 2}>
// W64-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 32, pp = 1}, moe = {etp = 4, ep = 8, edp = 2}>} {
// W64-NEXT: func.func @mixtral_8x7b

// Tests that memory prunes candidates: with 20 GB per rank, ep = 4 (26.8 GB)
// no longer fits and ep = 8 wins.
// MEM: moe-fold-parallel: world-size 8, 1 moe op(s) in the module standing for 32 MoE layer(s)
// MEM-NEXT: moe-fold-parallel: layer 0: moe.layer T=4096 H=4096 E=8 K=2 F=14336 gated Fs=0 C=1 rows=8192 bf16
// MEM: moe-fold-parallel: 146 candidates, 65 feasible (0 fail divisibility, 81 fail memory)
// MEM: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// MEM-NEXT: 1 |   1   1   8   1 |   1   8   1 |    15.6 |    434.3    145.3     32.6      0.0      0.0      0.0      0.0 |    466.9
// MEM-NEXT: 2 |   1   2   4   1 |   1   8   1 |    15.6 |    434.3    145.3     32.6      0.0      0.0     18.6      0.0 |    485.6
// MEM-NEXT: 3 |   2   1   4   1 |   1   8   1 |    13.4 |    434.3    125.2     32.6      0.0     18.6      0.0      0.0 |    485.6
// MEM: moe-fold-parallel: chose #moe.parallel<attn = {tp = 1, cp = 1, dp = 8, pp = 1}, moe = {etp = 1, ep = 8, edp = 1}>
// MEM-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 8, pp = 1}, moe = {etp = 1, ep = 8, edp = 1}>} {
// MEM-NEXT: func.func @mixtral_8x7b

func.func @mixtral_8x7b(%x: tensor<4096x4096xbf16>, %router: tensor<8x4096xbf16>,
    %w1: tensor<8x14336x4096xbf16>, %w3: tensor<8x14336x4096xbf16>,
    %w2: tensor<8x4096x14336xbf16>) -> tensor<4096x4096xbf16> {
  %y = moe.layer %x router %router experts gate %w1 up %w3 down %w2
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<4096x4096xbf16>, tensor<8x4096xbf16>, tensor<8x14336x4096xbf16>,
         tensor<8x14336x4096xbf16>, tensor<8x4096x14336xbf16>) -> tensor<4096x4096xbf16>
  return %y : tensor<4096x4096xbf16>
}
