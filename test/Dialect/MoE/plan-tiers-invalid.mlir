// RUN: moe-opt %s -split-input-file -verify-diagnostics --moe-plan-tiers="hbm-bytes=4096"
// RUN: not moe-opt %s -split-input-file --moe-plan-tiers 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not moe-opt %s -split-input-file --moe-plan-tiers="hbm-bytes=-8" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not moe-opt %s -split-input-file --moe-plan-tiers="hbm-bytes=4096 lookahead=0" 2>&1 | FileCheck %s --check-prefix=LOOKAHEAD
// RUN: not moe-opt %s -split-input-file --moe-plan-tiers="hbm-bytes=4096 expert-fetch=some" 2>&1 | FileCheck %s --check-prefix=FETCH

// Tests that the options are checked before any function is planned.
// MISSING: error: moe-plan-tiers option hbm-bytes is required and must be positive (the HBM bytes for weights), got 0
// NEGATIVE: error: moe-plan-tiers option hbm-bytes is required and must be positive (the HBM bytes for weights), got -8
// LOOKAHEAD: error: moe-plan-tiers option lookahead must be at least 1, got 0
// FETCH: error: moe-plan-tiers option expert-fetch must be all, routed or predicted, got 'some'

// Tests that a budget below the two largest consecutive streamed groups
// (2 x 8256 bytes) plus the resident router (64 bytes, shared) is an error
// giving the least budget that would do.
// expected-error @+1 {{the expert weights of '@too_small' need at least 32832 bytes of HBM to stream with lookahead 1 (32768 bytes for the largest 2 consecutive streamed groups, plus 64 bytes that must stay resident); --moe-plan-tiers hbm-bytes is 4096}}
func.func @too_small(%x: tensor<4x8xf32>, %r: tensor<2x8xf32>,
    %u0: tensor<2x128x8xf32>, %d0: tensor<2x8x128xf32>,
    %u1: tensor<2x128x8xf32>, %d1: tensor<2x8x128xf32>) -> tensor<4x8xf32> {
  %y0 = moe.layer %x router %r experts up %u0 down %d0 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x128x8xf32>, tensor<2x8x128xf32>) -> tensor<4x8xf32>
  %y1 = moe.layer %y0 router %r experts up %u1 down %d1 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x128x8xf32>, tensor<2x8x128xf32>) -> tensor<4x8xf32>
  return %y1 : tensor<4x8xf32>
}

// -----

// Tests that a weight argument of dynamic shape cannot be planned.
// expected-error @+1 {{moe-plan-tiers needs the size of every weight: argument 2 of '@dynamic' has the dynamic shape 'tensor<?x16x8xf32>'}}
func.func @dynamic(%x: tensor<4x8xf32>, %r: tensor<2x8xf32>, %u: tensor<?x16x8xf32>,
    %d: tensor<2x8x16xf32>) -> tensor<4x8xf32> {
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<?x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Tests that 'moe.tier' on an argument must hold a #moe.tier.
// expected-error @+1 {{'moe.tier' must be a #moe.tier attribute, got 3 : i64}}
func.func @tier_not_attr(%w: tensor<2x8xf32> {moe.tier = 3 : i64}) {
  return
}

// -----

// Tests that only a tensor argument may live in host memory.
// expected-error @+1 {{'moe.tier' = #moe.tier<host> is only allowed on a ranked tensor argument, got 'i32'}}
func.func @tier_not_tensor(%n: i32 {moe.tier = #moe.tier<host>}) {
  return
}
