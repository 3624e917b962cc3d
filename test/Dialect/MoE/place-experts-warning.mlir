// RUN: moe-opt %s -verify-diagnostics --moe-place-experts="trace=%S/Inputs/place-experts-hot.json ep=2" | FileCheck %s

// Tests that a layer no placement can balance gets a warning, and still a
// permutation: expert 0 alone carries 30 of the 60 tokens, so a rank holds at
// least 40 (mean 30, bound 33). Longest processing time first puts expert 0
// on rank 0, experts 1 and 2 on rank 1, and expert 3 in the slot left.
// CHECK-LABEL: func.func @hot_expert
// CHECK: moe.expert_permutation = array<i64: 0, 3, 1, 2>
// CHECK: moe.expert_permutation = array<i64: 0, 2, 1, 3>
func.func @hot_expert(%rows: tensor<8x4xbf16>, %offsets: tensor<5xi32>, %u: tensor<4x16x4xbf16>, %d: tensor<4x4x16xbf16>, %u2: tensor<4x16x4xbf16>, %d2: tensor<4x4x16xbf16>) -> tensor<8x4xbf16> {
  // expected-warning @+1 {{moe-place-experts found no placement of this layer within the load bound: its most loaded rank has 40 tokens, above (1 + 0.1) x mean = 33.0}}
  %y = moe.experts %rows, %offsets up %u down %d activation gelu layout out_in
      : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
  %z = moe.experts %y, %offsets up %u2 down %d2 activation gelu layout out_in
      : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
  return %z : tensor<8x4xbf16>
}
