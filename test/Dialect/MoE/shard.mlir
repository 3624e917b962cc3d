// RUN: moe-opt %s -split-input-file --moe-shard | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-shard | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-shard | moe-opt -split-input-file --moe-shard | FileCheck %s

// Tests that EP = 2 splits the tokens and the experts, dispatches and combines
// through ragged all-to-alls over the ep axis, and regroups the received rows
// expert-major for the rank's experts.
// CHECK-LABEL: module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>}
// CHECK: shard.grid @moe_grid(shape = 1x2x1)
// CHECK-LABEL: func.func @mixtral(
// CHECK-SAME: %[[X:[a-z0-9_]+]]: tensor<4x16xf32> {moe.input = "x", moe.split_axes = [array<i16: 0, 1>, array<i16>]}
// CHECK-SAME: %[[R:[a-z0-9_]+]]: tensor<4x16xf32> {moe.input = "router"}
// CHECK-SAME: %[[G:[a-z0-9_]+]]: tensor<2x32x16xf32> {moe.split_axes = [array<i16: 1>, array<i16: 2>, array<i16>]}
// CHECK-SAME: %[[U:[a-z0-9_]+]]: tensor<2x32x16xf32> {moe.split_axes = [array<i16: 1>, array<i16: 2>, array<i16>]}
// CHECK-SAME: %[[D:[a-z0-9_]+]]: tensor<2x16x32xf32> {moe.split_axes = [array<i16: 1>, array<i16>, array<i16: 2>]}
// CHECK-SAME: -> (tensor<4x16xf32> {moe.split_axes = [array<i16: 0, 1>, array<i16>]})
// CHECK: %[[LOGITS:.*]] = linalg.matmul {{.*}}ins(%[[X]], %[[R]] : tensor<4x16xf32>, tensor<4x16xf32>)
// CHECK: %[[W:.*]], %[[IDX:.*]] = moe.router %[[LOGITS]]
// CHECK: %[[ROWS:.*]], %[[OFF:.*]], %[[SRC:.*]] = moe.dispatch %[[X]], %[[IDX]] experts 4 : tensor<4x16xf32>, tensor<4x2xi32> -> tensor<8x16xf32>, tensor<5xi32>, tensor<8xi32>
// CHECK: %[[COUNTS:.*]] = tensor.from_elements {{.*}} : tensor<2xi32>
// CHECK: %[[TAGS:.*]] = linalg.generic
// CHECK: %[[RECV:.*]], %[[RECVC:.*]] = moeflow.all_to_all_v %[[ROWS]], %[[COUNTS]] group @moe_grid axes [1] : tensor<8x16xf32>, tensor<2xi32> -> (tensor<16x16xf32>, tensor<2xi32>)
// CHECK: %[[RTAGS:.*]], %{{.*}} = moeflow.all_to_all_v %[[TAGS]], %[[COUNTS]] group @moe_grid axes [1] : tensor<8xi32>, tensor<2xi32> -> (tensor<16xi32>, tensor<2xi32>)
// CHECK: %[[GROWS:.*]], %[[GOFF:.*]], %[[GSRC:.*]] = moe.dispatch %[[RECV]], %{{.*}} experts 2 : tensor<16x16xf32>, tensor<16x1xi32> -> tensor<16x16xf32>, tensor<3xi32>, tensor<16xi32>
// CHECK: %[[Y:.*]] = moe.experts %[[GROWS]], %[[GOFF]] gate %[[G]] up %[[U]] down %[[D]]
// CHECK: %[[ARRIVAL:.*]] = moe.combine %[[Y]], %[[GSRC]], %{{.*}} : tensor<16x16xf32>, tensor<16xi32>, tensor<16x1xf32> -> tensor<16x16xf32>
// CHECK: %[[BACK:.*]], %{{.*}} = moeflow.all_to_all_v %[[ARRIVAL]], %[[RECVC]] group @moe_grid axes [1] : tensor<16x16xf32>, tensor<2xi32> -> (tensor<8x16xf32>, tensor<2xi32>)
// CHECK: %[[OUT:.*]] = moe.combine %[[BACK]], %[[SRC]], %[[W]] : tensor<8x16xf32>, tensor<8xi32>, tensor<4x2xf32> -> tensor<4x16xf32>
// CHECK-NOT: moeflow.all_reduce
// CHECK: return %[[OUT]] : tensor<4x16xf32>
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @mixtral(%x: tensor<8x16xf32> {moe.input = "x"}, %r: tensor<4x16xf32> {moe.input = "router"},
      %g: tensor<4x32x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts gate %g up %u down %d
        routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that ETP alone keeps every token on every rank, splits each expert's
// F dimension (in_out layout) and the shared expert's, and completes the
// partial sums with one all-reduce over the etp axis; the null experts are
// added after it, once.
// CHECK-LABEL: module attributes
// CHECK: shard.grid @moe_grid(shape = 1x1x2)
// CHECK-LABEL: func.func @etp(
// CHECK-SAME: tensor<8x16xf32> {moe.split_axes = [array<i16: 0, 1>, array<i16>]}
// CHECK-SAME: tensor<16x6xf32>
// CHECK-SAME: tensor<4x16x16xf32> {moe.split_axes = [array<i16: 1>, array<i16>, array<i16: 2>]}
// CHECK-SAME: tensor<4x16x16xf32> {moe.split_axes = [array<i16: 1>, array<i16: 2>, array<i16>]}
// CHECK-SAME: tensor<16x8xf32> {moe.split_axes = [array<i16>, array<i16: 2>]}
// CHECK-SAME: tensor<8x16xf32> {moe.split_axes = [array<i16: 2>, array<i16>]}
// CHECK-SAME: tensor<16xf32>)
// CHECK-NOT: moeflow.all_to_all_v
// CHECK: moe.dispatch {{.*}} experts 4
// CHECK: %[[ROUTED:.*]] = moe.combine
// CHECK: %[[SHARED:.*]] = moe.shared_experts
// CHECK: %[[PARTIAL:.*]] = arith.addf %[[ROUTED]], %[[SHARED]] : tensor<8x16xf32>
// CHECK: %[[FULL:.*]] = moeflow.all_reduce %[[PARTIAL]] group @moe_grid axes [2] reduction sum : tensor<8x16xf32>
// CHECK: %[[NULLS:.*]] = moe.null_experts {{.*}} first 4 zero 1 copy 1 constant 0
// CHECK: arith.addf %[[FULL]], %[[NULLS]]
module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 1, pp = 1}, moe = {etp = 2, ep = 1, edp = 1}>} {
  func.func @etp(%x: tensor<8x16xf32>, %r: tensor<16x6xf32>, %u: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>,
      %su: tensor<16x16xf32>, %sd: tensor<16x16xf32>, %sg: tensor<16xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd shared_sigmoid_gate %sg
        routing <scoring = softmax, top_k = 2, zero_experts = 1, copy_experts = 1> activation gelu layout in_out
        : (tensor<8x16xf32>, tensor<16x6xf32>, tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests EP x EDP with an expert placement: tokens split over (edp, ep), the
// expert weights carry the permutation, and the router's choices are mapped
// to expert positions before the dispatch.
// CHECK-LABEL: module attributes
// CHECK: shard.grid @moe_grid(shape = 2x2x1)
// CHECK-LABEL: func.func @placed(
// CHECK-SAME: tensor<2x16xbf16> {moe.split_axes = [array<i16: 0, 1>, array<i16>]}
// CHECK-SAME: tensor<2x32x16xbf16> {moe.expert_permutation = array<i64: 3, 0, 2, 1>, moe.split_axes = [array<i16: 1>, array<i16: 2>, array<i16>]}
// CHECK: %[[TABLE:.*]] = arith.constant dense<[1, 3, 2, 0]> : tensor<4xi32>
// CHECK: %[[POS:.*]] = linalg.generic
// CHECK: tensor.extract %[[TABLE]]
// CHECK: moe.dispatch %{{.*}}, %[[POS]] experts 4 : tensor<2x16xbf16>, tensor<2x2xi32> -> tensor<4x16xbf16>, tensor<5xi32>, tensor<4xi32>
// CHECK: moeflow.all_to_all_v {{.*}} -> (tensor<8x16xbf16>, tensor<2xi32>)
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 2, edp = 2}>} {
  func.func @placed(%x: tensor<8x16xbf16>, %r: tensor<4x16xbf16>, %g: tensor<4x32x16xbf16>, %u: tensor<4x32x16xbf16>,
      %d: tensor<4x16x32xbf16>) -> tensor<8x16xbf16> {
    %y = moe.layer %x router %r experts gate %g up %u down %d
        routing <scoring = softmax, top_k = 2> activation silu layout out_in
        {moe.expert_permutation = array<i64: 3, 0, 2, 1>}
        : (tensor<8x16xbf16>, tensor<4x16xbf16>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<8x16xbf16>
    return %y : tensor<8x16xbf16>
  }
}

// -----

// Tests that a chain is expanded into its iterations, each sharded, with the
// residual sums on local token tensors, and that a plan carried by a layer
// alone is applied.
// CHECK-LABEL: module {
// CHECK: shard.grid @moe_grid(shape = 1x2x1)
// CHECK-LABEL: func.func @chain_then_layer(
// CHECK-SAME: %[[X:[a-z0-9_]+]]: tensor<4x16xf32> {moe.split_axes
// CHECK: tensor.extract_slice
// CHECK: moeflow.all_to_all_v
// CHECK: %[[S1:.*]] = arith.addf %[[X]], %{{.*}} : tensor<4x16xf32>
// CHECK: tensor.extract_slice
// CHECK: moeflow.all_to_all_v
// CHECK: %[[S2:.*]] = arith.addf %[[S1]], %{{.*}} : tensor<4x16xf32>
// CHECK: moe.dispatch %[[S2]]
// CHECK: %[[Z:.*]] = moe.combine {{.*}} -> tensor<4x16xf32>
// CHECK: %[[SUM:.*]] = arith.addf %[[S2]], %[[Z]] : tensor<4x16xf32>
// CHECK: return %[[SUM]] : tensor<4x16xf32>
module {
  func.func @chain_then_layer(%x: tensor<8x16xf32>, %r: tensor<2x4x16xf32>, %r2: tensor<4x16xf32>,
      %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %c = moe.chain %x iterations 2 router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<2x4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    %y = moe.layer %c router %r2 experts up %u down %d
        routing <scoring = softmax, top_k = 1> activation relu layout out_in
        {parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>}
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    %s = arith.addf %c, %y : tensor<8x16xf32>
    return %s : tensor<8x16xf32>
  }
}

// -----

// Tests that a plan of one rank leaves the function as it is.
// CHECK-LABEL: module attributes
// CHECK-NOT: shard.grid
// CHECK-LABEL: func.func @one_rank(
// CHECK-SAME: %{{.*}}: tensor<8x16xf32>, %{{.*}}: tensor<4x16xf32>
// CHECK-NOT: moe.split_axes
// CHECK: moe.layer
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 1, pp = 1}, moe = {etp = 1, ep = 1, edp = 1}>} {
  func.func @one_rank(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that a module without any plan is left alone.
// CHECK-LABEL: func.func @no_plan(
// CHECK-SAME: %{{.*}}: tensor<8x16xf32>
// CHECK: moe.layer
func.func @no_plan(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  %y = moe.layer %x router %r experts up %u down %d
      routing <scoring = softmax, top_k = 2> activation relu layout out_in
      : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// -----

// Tests that capacity-mode dispatch is kept under ETP alone (every rank sees
// all tokens), with its drop policy.
// CHECK-LABEL: func.func @etp_capacity(
// CHECK: moe.dispatch {{.*}} experts 4 capacity 3 drop score
// CHECK: moeflow.all_reduce
module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 1, pp = 1}, moe = {etp = 2, ep = 1, edp = 1}>} {
  func.func @etp_capacity(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in capacity 3 drop score
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
