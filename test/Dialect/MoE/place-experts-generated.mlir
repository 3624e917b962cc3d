// RUN: %python %moe_src_root/scripts/make-routing-trace.py --layers 4 --experts 16 --top-k 2 --tokens 2000 --seed 7 -o %t.json
// RUN: moe-opt %s --moe-place-experts="trace=%t.json explain=true" 2>%t.explain | FileCheck %s
// RUN: FileCheck %s --check-prefix=EXPLAIN < %t.explain

// Tests the pass on a synthetic trace from scripts/make-routing-trace.py
// (skewed experts, token topics that carry across layers): every layer gets a
// permutation of its 16 experts, the predicted all-to-all volume drops by at
// least 1%, and every rank stays within the load bound (max/mean <= 1.1).
// CHECK-LABEL: func.func @four_layers
// CHECK-COUNT-4: moe.expert_permutation = array<i64: {{([0-9]+, ){15}[0-9]+}}>

// EXPLAIN: moe-place-experts: {{.*}} 4 layer(s), ep = 4
// EXPLAIN: moe-place-experts: total all-to-all bytes before {{[0-9]+}}, after {{[0-9]+}} (reduced by {{[1-9][0-9]*\.[0-9]}}%); worst max/mean rank load before {{[0-9.]+}}, after {{1\.0[0-9][0-9]|1\.100}}
module attributes {moe.parallel = #moe.parallel<attn = {dp = 4}, moe = {ep = 4}>} {
  func.func @four_layers(%x: tensor<16x64xbf16>, %r: tensor<16x64xbf16>,
      %g0: tensor<16x32x64xbf16>, %u0: tensor<16x32x64xbf16>, %d0: tensor<16x64x32xbf16>,
      %g1: tensor<16x32x64xbf16>, %u1: tensor<16x32x64xbf16>, %d1: tensor<16x64x32xbf16>,
      %g2: tensor<16x32x64xbf16>, %u2: tensor<16x32x64xbf16>, %d2: tensor<16x64x32xbf16>,
      %g3: tensor<16x32x64xbf16>, %u3: tensor<16x32x64xbf16>, %d3: tensor<16x64x32xbf16>) -> tensor<16x64xbf16> {
    %y0 = moe.layer %x router %r experts gate %g0 up %u0 down %d0 routing <scoring = softmax, top_k = 2>
        activation silu layout out_in
        : (tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16x32x64xbf16>, tensor<16x32x64xbf16>, tensor<16x64x32xbf16>) -> tensor<16x64xbf16>
    %y1 = moe.layer %y0 router %r experts gate %g1 up %u1 down %d1 routing <scoring = softmax, top_k = 2>
        activation silu layout out_in
        : (tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16x32x64xbf16>, tensor<16x32x64xbf16>, tensor<16x64x32xbf16>) -> tensor<16x64xbf16>
    %y2 = moe.layer %y1 router %r experts gate %g2 up %u2 down %d2 routing <scoring = softmax, top_k = 2>
        activation silu layout out_in
        : (tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16x32x64xbf16>, tensor<16x32x64xbf16>, tensor<16x64x32xbf16>) -> tensor<16x64xbf16>
    %y3 = moe.layer %y2 router %r experts gate %g3 up %u3 down %d3 routing <scoring = softmax, top_k = 2>
        activation silu layout out_in
        : (tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16x32x64xbf16>, tensor<16x32x64xbf16>, tensor<16x64x32xbf16>) -> tensor<16x64xbf16>
    return %y3 : tensor<16x64xbf16>
  }
}
