// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Tests that moe.expert_permutation (docs/multi-rank.md §2) must be an i64
// array.
func.func @not_array(%rows: tensor<8x4xbf16>, %offsets: tensor<5xi32>, %u: tensor<4x16x4xbf16>, %d: tensor<4x4x16xbf16>) -> tensor<8x4xbf16> {
  // expected-error @+1 {{'moe.expert_permutation' must be an array<i64: ...>}}
  %y = moe.experts %rows, %offsets up %u down %d activation gelu layout out_in {moe.expert_permutation = [0, 1, 2, 3]}
      : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
  return %y : tensor<8x4xbf16>
}

// -----

// Tests that it may only be attached to a moe.layer or a moe.experts.
func.func @wrong_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'moe.expert_permutation' may only be attached to a moe.layer or a moe.experts}}
  %y = arith.addf %x, %x {moe.expert_permutation = array<i64: 0>} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Tests that it must have one entry per routed expert.
func.func @short(%rows: tensor<8x4xbf16>, %offsets: tensor<5xi32>, %u: tensor<4x16x4xbf16>, %d: tensor<4x4x16xbf16>) -> tensor<8x4xbf16> {
  // expected-error @+1 {{'moe.expert_permutation' has 3 entries, expected 4 (the routed experts)}}
  %y = moe.experts %rows, %offsets up %u down %d activation gelu layout out_in {moe.expert_permutation = array<i64: 0, 1, 2>}
      : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
  return %y : tensor<8x4xbf16>
}

// -----

// Tests that its entries must be experts.
func.func @out_of_range(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'moe.expert_permutation' entry 4 is out of range [0, 4)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in {moe.expert_permutation = array<i64: 0, 4, 2, 3>}
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Tests that no expert may appear twice.
func.func @repeated(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'moe.expert_permutation' lists expert 2 twice}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in {moe.expert_permutation = array<i64: 2, 1, 2, 3>}
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
