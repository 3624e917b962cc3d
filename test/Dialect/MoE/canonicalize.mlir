// RUN: moe-opt %s -canonicalize -split-input-file | FileCheck %s

// Tests that renormalising a softmax over all experts (K = E) is dropped: the
// router is a dense softmax mixture whose weights already sum to 1.
// CHECK-LABEL: func.func @router_dense_softmax
// CHECK: moe.router %{{.*}} routing <scoring = softmax, top_k = 8> :
func.func @router_dense_softmax(%logits: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 8, renormalize = true>
      : tensor<4x8xf32> -> tensor<4x8xf32>, tensor<4x8xi32>
  return %w, %i : tensor<4x8xf32>, tensor<4x8xi32>
}

// -----

// Tests that renormalisation stays when K < E.
// CHECK-LABEL: func.func @router_keeps_renormalize
// CHECK: routing <scoring = softmax, top_k = 2, renormalize = true>
func.func @router_keeps_renormalize(%logits: tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, renormalize = true>
      : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %w, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

// Tests that sigmoid scores are not a distribution: K = E renormalisation stays.
// CHECK-LABEL: func.func @router_sigmoid_keeps_renormalize
// CHECK: routing <scoring = sigmoid, top_k = 8, renormalize = true>
func.func @router_sigmoid_keeps_renormalize(%logits: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi32>) {
  %w, %i = moe.router %logits routing <scoring = sigmoid, top_k = 8, renormalize = true>
      : tensor<4x8xf32> -> tensor<4x8xf32>, tensor<4x8xi32>
  return %w, %i : tensor<4x8xf32>, tensor<4x8xi32>
}

// -----

// Tests that top-p keeps renormalisation: it may use fewer than K slots.
// CHECK-LABEL: func.func @router_top_p_keeps_renormalize
// CHECK: routing <scoring = softmax, top_k = 8, renormalize = true, top_p = 5.000000e-01 : f64, zero_experts = 1>
func.func @router_top_p_keeps_renormalize(%logits: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 8, renormalize = true, top_p = 0.5, zero_experts = 1>
      : tensor<4x8xf32> -> tensor<4x8xf32>, tensor<4x8xi32>
  return %w, %i : tensor<4x8xf32>, tensor<4x8xi32>
}

// -----

// Tests that group-limited selection keeping every group becomes plain top-K.
// CHECK-LABEL: func.func @router_all_groups_kept
// CHECK: moe.router %{{.*}} routing <scoring = sigmoid, top_k = 4, scaling_factor = 2.500000e+00 : f64> :
func.func @router_all_groups_kept(%logits: tensor<4x16xf32>) -> (tensor<4x4xf32>, tensor<4x4xi32>) {
  %w, %i = moe.router %logits routing <scoring = sigmoid, top_k = 4, scaling_factor = 2.5, num_groups = 4, kept_groups = 4, group_score = max>
      : tensor<4x16xf32> -> tensor<4x4xf32>, tensor<4x4xi32>
  return %w, %i : tensor<4x4xf32>, tensor<4x4xi32>
}

// -----

// Tests that real group limits stay.
// CHECK-LABEL: func.func @router_group_limit_kept
// CHECK: routing <scoring = sigmoid, top_k = 4, num_groups = 4, kept_groups = 2>
func.func @router_group_limit_kept(%logits: tensor<4x16xf32>) -> (tensor<4x4xf32>, tensor<4x4xi32>) {
  %w, %i = moe.router %logits routing <scoring = sigmoid, top_k = 4, num_groups = 4, kept_groups = 2>
      : tensor<4x16xf32> -> tensor<4x4xf32>, tensor<4x4xi32>
  return %w, %i : tensor<4x4xf32>, tensor<4x4xi32>
}

// -----

// Tests that a capacity of at least T (it can never be reached: a token's K
// slots name distinct experts) turns capacity mode into dropless dispatch.
// CHECK-LABEL: func.func @dispatch_unreachable_capacity
// CHECK: moe.dispatch %{{.*}}, %{{.*}} experts 4 : tensor<8x16xf32>, tensor<8x2xi32> -> tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>
func.func @dispatch_unreachable_capacity(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>, %w: tensor<8x2xf32>) -> tensor<16x16xf32> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx weights %w experts 4 capacity 8 drop score
      : tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x2xf32> -> tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>
  return %rows : tensor<16x16xf32>
}

// -----

// Tests that an unreachable capacity that still bounds the rows stays: with
// null experts K (4) exceeds the routed experts (2), and E*C = 8 < T*K = 16.
// CHECK-LABEL: func.func @dispatch_capacity_bounds_rows
// CHECK: moe.dispatch %{{.*}}, %{{.*}} experts 2 capacity 4 drop position : tensor<4x64xf32>, tensor<4x4xi32> -> tensor<8x64xf32>, tensor<3xi32>, tensor<8xi32>
func.func @dispatch_capacity_bounds_rows(%x: tensor<4x64xf32>, %idx: tensor<4x4xi32>) -> tensor<8x64xf32> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 2 capacity 4 drop position
      : tensor<4x64xf32>, tensor<4x4xi32> -> tensor<8x64xf32>, tensor<3xi32>, tensor<8xi32>
  return %rows : tensor<8x64xf32>
}

// -----

// Tests that a capacity below T stays.
// CHECK-LABEL: func.func @dispatch_reachable_capacity
// CHECK: moe.dispatch %{{.*}}, %{{.*}} experts 4 capacity 7 drop position
func.func @dispatch_reachable_capacity(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>) -> tensor<16x16xf32> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 4 capacity 7 drop position
      : tensor<8x16xf32>, tensor<8x2xi32> -> tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>
  return %rows : tensor<16x16xf32>
}

// -----

// Tests that an unreachable capacity is dropped from a layer, and its routing
// simplified (K = E softmax renormalisation).
// CHECK-LABEL: func.func @layer_simplified
// CHECK: moe.layer %{{.*}} router %{{.*}} experts up %{{.*}} down %{{.*}} routing <scoring = softmax, top_k = 4> activation relu layout in_out :
func.func @layer_simplified(%x: tensor<4x16xf32>, %wr: tensor<16x4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x16xf32> {
  %y = moe.layer %x router %wr experts up %u down %d
      routing <scoring = softmax, top_k = 4, renormalize = true> activation relu layout in_out capacity 4 drop position
      : (tensor<4x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// Tests that zero-only null experts are removed from the sum they feed.
// CHECK-LABEL: func.func @zero_experts_removed
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>, %{{.*}}: tensor<4x2xi32>, %{{.*}}: tensor<4x2xf32>, %[[ACC:.*]]: tensor<4x16xf32>)
// CHECK-NOT: moe.null_experts
// CHECK-NOT: arith.addf
// CHECK: return %[[ACC]]
func.func @zero_experts_removed(%x: tensor<4x16xf32>, %idx: tensor<4x2xi32>, %w: tensor<4x2xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %n = moe.null_experts %x, %idx, %w first 6 zero 2 copy 0 constant 0
      : tensor<4x16xf32>, tensor<4x2xi32>, tensor<4x2xf32> -> tensor<4x16xf32>
  %sum = arith.addf %n, %acc : tensor<4x16xf32>
  return %sum : tensor<4x16xf32>
}

// -----

// Tests that any other use of zero-only null experts sees zeros.
// CHECK-LABEL: func.func @zero_experts_as_zeros
// CHECK-NOT: moe.null_experts
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<4x16xf32>
// CHECK: %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[EMPTY]] : tensor<4x16xf32>)
// CHECK: return %[[FILL]]
func.func @zero_experts_as_zeros(%x: tensor<4x16xf32>, %idx: tensor<4x2xi32>, %w: tensor<4x2xf32>) -> tensor<4x16xf32> {
  %n = moe.null_experts %x, %idx, %w first 6 zero 2 copy 0 constant 0
      : tensor<4x16xf32>, tensor<4x2xi32>, tensor<4x2xf32> -> tensor<4x16xf32>
  return %n : tensor<4x16xf32>
}

// -----

// Tests that copy experts are kept: they add the token itself.
// CHECK-LABEL: func.func @copy_experts_kept
// CHECK: moe.null_experts %{{.*}} first 6 zero 1 copy 1 constant 0
// CHECK: arith.addf
func.func @copy_experts_kept(%x: tensor<4x16xf32>, %idx: tensor<4x2xi32>, %w: tensor<4x2xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %n = moe.null_experts %x, %idx, %w first 6 zero 1 copy 1 constant 0
      : tensor<4x16xf32>, tensor<4x2xi32>, tensor<4x2xf32> -> tensor<4x16xf32>
  %sum = arith.addf %n, %acc : tensor<4x16xf32>
  return %sum : tensor<4x16xf32>
}

// -----

// Tests that a one-iteration chain becomes a layer on the router slice plus
// the residual.
// CHECK-LABEL: func.func @chain_single_iteration
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>, %[[WR:.*]]: tensor<1x16x4xf32>, %[[B:.*]]: tensor<1x4xf32>
// CHECK: %[[R:.*]] = tensor.extract_slice %[[WR]][0, 0, 0] [1, 16, 4] [1, 1, 1] : tensor<1x16x4xf32> to tensor<16x4xf32>
// CHECK: %[[BS:.*]] = tensor.extract_slice %[[B]][0, 0] [1, 4] [1, 1] : tensor<1x4xf32> to tensor<4xf32>
// CHECK: %[[Y:.*]] = moe.layer %[[X]] router %[[R]] bias %[[BS]] experts up %{{.*}} down %{{.*}} routing <scoring = softmax, top_k = 2> activation silu layout in_out
// CHECK: %[[OUT:.*]] = arith.addf %[[X]], %[[Y]]
// CHECK: return %[[OUT]]
func.func @chain_single_iteration(%x: tensor<4x16xf32>, %wr: tensor<1x16x4xf32>, %b: tensor<1x4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x16xf32> {
  %y = moe.chain %x iterations 1 router %wr bias %b experts up %u down %d
      routing <scoring = softmax, top_k = 2> activation silu layout in_out
      : (tensor<4x16xf32>, tensor<1x16x4xf32>, tensor<1x4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// Tests that a chain of several iterations stays a chain.
// CHECK-LABEL: func.func @chain_kept
// CHECK: moe.chain %{{.*}} iterations 3
func.func @chain_kept(%x: tensor<4x16xf32>, %wr: tensor<3x16x4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x16xf32> {
  %y = moe.chain %x iterations 3 router %wr experts up %u down %d
      routing <scoring = softmax, top_k = 2> activation silu layout in_out
      : (tensor<4x16xf32>, tensor<3x16x4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}
