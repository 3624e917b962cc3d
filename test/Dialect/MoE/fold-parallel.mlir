// RUN: moe-opt %s -split-input-file --moe-fold-parallel="world-size=4" | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-fold-parallel="world-size=4" | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-fold-parallel="world-size=4" | moe-opt -split-input-file --moe-fold-parallel="world-size=4" | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-fold-parallel="world-size=4 explain=true explain-top=3" | FileCheck %s --check-prefix=EXPLAIN

// Tests that a module without a plan gets the cheapest folding, that the
// attribute round-trips, and that running the pass again keeps it.
// CHECK-LABEL: module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 4, edp = 1}>}
// CHECK: func.func @small
// EXPLAIN: moe-fold-parallel: world-size 4, 1 moe op(s) in the module standing for 1 MoE layer(s)
// EXPLAIN-NEXT: moe-fold-parallel: layer 0: moe.layer T=256 H=512 E=8 K=2 F=1024 gated Fs=0 C=1 rows=512 bf16
// EXPLAIN-NEXT: moe-fold-parallel: machine: 989 TFLOP/s, HBM 3350 GB/s, 80 GB/rank, 450 GB/s in a node of 8 ranks, 50 GB/s across nodes, 8 microbatches under pp
// EXPLAIN-NEXT: moe-fold-parallel: 46 candidates, 36 feasible (10 fail divisibility, 0 fail memory)
// EXPLAIN-NEXT: moe-fold-parallel: microseconds per layer step; total = max(compute, hbm) + a2a + etp + tp + cp + bubble
// EXPLAIN-NEXT: rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm      a2a      etp       tp       cp   bubble |    total
// EXPLAIN-NEXT: 1 |   2   1   2   1 |   1   4   1 |     0.0 |      0.5      2.2      0.4      0.0      0.3      0.0      0.0 |      2.9
// EXPLAIN-NEXT: 2 |   1   1   4   1 |   1   4   1 |     0.0 |      0.5      2.5      0.4      0.0      0.0      0.0      0.0 |      2.9
// EXPLAIN-NEXT: 3 |   2   2   1   1 |   1   4   1 |     0.0 |      0.5      2.2      0.4      0.0      0.3      0.3      0.0 |      3.2
// EXPLAIN-NEXT: moe-fold-parallel: chose #moe.parallel<attn = {tp = 2, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 4, edp = 1}>
// EXPLAIN-NEXT: module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 4, edp = 1}>}
// EXPLAIN: // {{-----}}
func.func @small(%x: tensor<256x512xbf16>, %r: tensor<8x512xbf16>, %g: tensor<8x1024x512xbf16>,
    %u: tensor<8x1024x512xbf16>, %d: tensor<8x512x1024xbf16>) -> tensor<256x512xbf16> {
  %y = moe.layer %x router %r experts gate %g up %u down %d
      routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
      : (tensor<256x512xbf16>, tensor<8x512xbf16>, tensor<8x1024x512xbf16>, tensor<8x1024x512xbf16>, tensor<8x512x1024xbf16>) -> tensor<256x512xbf16>
  return %y : tensor<256x512xbf16>
}

// -----

// Tests that a plan already on the module is only checked and kept as it is,
// and that the explanation shows that plan's row instead of a ranking.
// CHECK-LABEL: module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 2, pp = 1}, moe = {etp = 2, ep = 2, edp = 1}>}
// CHECK: func.func @given
// EXPLAIN-NEXT: moe-fold-parallel: world-size 4, 1 moe op(s) in the module standing for 1 MoE layer(s)
// EXPLAIN-NOT: candidates
// EXPLAIN: given |   2   1   2   1 |   2   2   1 |     0.0 |      0.5      2.2      0.3      0.6      0.3      0.0      0.0 |      3.4
// EXPLAIN-NOT: chose
// EXPLAIN: module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 2, pp = 1}, moe = {etp = 2, ep = 2, edp = 1}>}
// EXPLAIN: // {{-----}}
module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, dp = 2}, moe = {etp = 2, ep = 2}>} {
  func.func @given(%x: tensor<256x512xbf16>, %r: tensor<8x512xbf16>, %g: tensor<8x1024x512xbf16>,
      %u: tensor<8x1024x512xbf16>, %d: tensor<8x512x1024xbf16>) -> tensor<256x512xbf16> {
    %y = moe.layer %x router %r experts gate %g up %u down %d
        routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
        : (tensor<256x512xbf16>, tensor<8x512xbf16>, tensor<8x1024x512xbf16>, tensor<8x1024x512xbf16>, tensor<8x512x1024xbf16>) -> tensor<256x512xbf16>
    return %y : tensor<256x512xbf16>
  }
}

// -----

// Tests a module of two layers, one of them a chain of 2 iterations with
// shared experts: ep must divide both layers' experts (4 and 8).
// CHECK-LABEL: module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 4, edp = 1}>}
// CHECK: func.func @two_layers
// EXPLAIN-NEXT: moe-fold-parallel: world-size 4, 2 moe op(s) in the module standing for 2 MoE layer(s)
// EXPLAIN-NEXT: moe-fold-parallel: layer 0: moe.layer T=256 H=512 E=8 K=2 F=1024 gated Fs=0 C=1 rows=512 bf16
// EXPLAIN-NEXT: moe-fold-parallel: layer 1: moe.chain T=256 H=512 E=4 K=2 F=256 plain Fs=512 C=2 rows=512 bf16
// EXPLAIN: moe-fold-parallel: 46 candidates, 45 feasible (1 fail divisibility, 0 fail memory)
// EXPLAIN: moe-fold-parallel: chose #moe.parallel<attn = {tp = 1, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 4, edp = 1}>
func.func @two_layers(%x: tensor<256x512xbf16>, %r: tensor<8x512xbf16>, %g: tensor<8x1024x512xbf16>,
    %u: tensor<8x1024x512xbf16>, %d: tensor<8x512x1024xbf16>, %cr: tensor<2x4x512xbf16>,
    %cu: tensor<4x256x512xbf16>, %cd: tensor<4x512x256xbf16>, %su: tensor<512x512xbf16>,
    %sd: tensor<512x512xbf16>) -> tensor<256x512xbf16> {
  %y = moe.layer %x router %r experts gate %g up %u down %d
      routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
      : (tensor<256x512xbf16>, tensor<8x512xbf16>, tensor<8x1024x512xbf16>, tensor<8x1024x512xbf16>, tensor<8x512x1024xbf16>) -> tensor<256x512xbf16>
  %z = moe.chain %y iterations 2 router %cr experts up %cu down %cd shared_up %su shared_down %sd
      routing <scoring = softmax, top_k = 2> activation gelu layout out_in
      : (tensor<256x512xbf16>, tensor<2x4x512xbf16>, tensor<4x256x512xbf16>, tensor<4x512x256xbf16>, tensor<512x512xbf16>, tensor<512x512xbf16>) -> tensor<256x512xbf16>
  return %z : tensor<256x512xbf16>
}
