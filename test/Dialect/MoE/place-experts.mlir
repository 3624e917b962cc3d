// RUN: moe-opt %s --moe-place-experts="trace=%S/Inputs/place-experts-swap.json explain=true" 2>%t.explain | FileCheck %s
// RUN: FileCheck %s --check-prefix=EXPLAIN < %t.explain
// RUN: moe-opt %s --moe-place-experts="trace=%S/Inputs/place-experts-swap.json ep=2" | FileCheck %s

// Tests that experts feeding each other across layers end up on one rank:
// in the trace, experts 0 and 1 of the first layer send all their tokens to
// experts 2 and 3 of the second, and 2, 3 to 0, 1. The identity placement
// (rank 0: experts 0 and 1, rank 1: experts 2 and 3, both layers) sends every
// row of the second layer across; the chosen one (rank 0: experts 0 and 2,
// rank 1: experts 1 and 3, both layers) none. Rows are 8 f32 = 32
// bytes; the first layer's tokens come from the attention data split, so half
// of its 40 rows cross whatever the placement (640 bytes).
// CHECK-LABEL: func.func @two_layers
// CHECK: moe.layer
// CHECK-SAME: moe.expert_permutation = array<i64: 0, 2, 1, 3>
// CHECK: moe.layer
// CHECK-SAME: moe.expert_permutation = array<i64: 0, 2, 1, 3>

// EXPLAIN: moe-place-experts: trace '{{.*}}place-experts-swap.json': 2 layer(s), ep = 2, load bound (1 + 0.1) x mean; before = identity placement
// EXPLAIN-NEXT: moe-place-experts: layer 0 (moe.layer, 4 experts, 32 B/row): all-to-all bytes before 640, after 640 (reduced by 0.0%)
// EXPLAIN-NEXT:   rank loads before [20, 20] (max/mean 1.000)
// EXPLAIN-NEXT:   rank loads after  [20, 20] (max/mean 1.000)
// EXPLAIN-NEXT: moe-place-experts: layer 1 (moe.layer, 4 experts, 32 B/row): all-to-all bytes before 1280, after 0 (reduced by 100.0%)
// EXPLAIN-NEXT:   rank loads before [20, 20] (max/mean 1.000)
// EXPLAIN-NEXT:   rank loads after  [20, 20] (max/mean 1.000)
// EXPLAIN-NEXT: moe-place-experts: total all-to-all bytes before 1920, after 640 (reduced by 66.7%); worst max/mean rank load before 1.000, after 1.000
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @two_layers(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %u2: tensor<4x16x8xf32>, %d2: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    %z = moe.layer %y router %r experts up %u2 down %d2 routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    return %z : tensor<4x8xf32>
  }
}
