// RUN: moe-opt %s --moe-place-experts="trace=%S/Inputs/place-experts-balance.json ep=2 explain=true" 2>%t.explain | FileCheck %s
// RUN: FileCheck %s --check-prefix=EXPLAIN < %t.explain
// RUN: moe-opt %s --moe-place-experts="trace=%S/Inputs/place-experts-balance.json ep=2 imbalance=0" | FileCheck %s

// Tests that the load bound is kept: experts 0 and 1 carry 20 tokens, 2 and
// 3 carry 10, and every expert feeds itself in the next layer. The identity
// placement keeps every row on its rank but puts 40 tokens on rank 0 and 20
// on rank 1 (max/mean 1.33 > 1.1); the chosen placement pairs a hot expert
// with a cold one on each rank, in both layers, and still keeps every row;
// with imbalance = 0 as well (30 tokens per rank is exactly the mean).
// CHECK-LABEL: func.func @two_layers
// CHECK: moe.experts
// CHECK-SAME: moe.expert_permutation = array<i64: 0, 2, 1, 3>
// CHECK: moe.experts
// CHECK-SAME: moe.expert_permutation = array<i64: 0, 2, 1, 3>

// EXPLAIN: moe-place-experts: layer 1 (moe.experts, 4 experts, 8 B/row): all-to-all bytes before 0, after 0
// EXPLAIN-NEXT:   rank loads before [40, 20] (max/mean 1.333)
// EXPLAIN-NEXT:   rank loads after  [30, 30] (max/mean 1.000)
// EXPLAIN-NEXT: moe-place-experts: total all-to-all bytes before 240, after 240 (reduced by 0.0%); worst max/mean rank load before 1.333, after 1.000

func.func @two_layers(%rows: tensor<8x4xbf16>, %offsets: tensor<5xi32>, %u: tensor<4x16x4xbf16>, %d: tensor<4x4x16xbf16>, %u2: tensor<4x16x4xbf16>, %d2: tensor<4x4x16xbf16>) -> tensor<8x4xbf16> {
  %y = moe.experts %rows, %offsets up %u down %d activation gelu layout out_in
      : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
  %z = moe.experts %y, %offsets up %u2 down %d2 activation gelu layout out_in
      : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
  return %z : tensor<8x4xbf16>
}
