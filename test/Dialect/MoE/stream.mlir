// RUN: moe-opt %s -split-input-file --moe-shard --moe-stream=chunks=3 --moeflow-verify-collectives | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-shard --moe-stream=chunks=3 | moe-opt -split-input-file --moeflow-verify-collectives | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-shard --moe-stream=chunks=1 | FileCheck %s --check-prefix=ONE
// RUN: moe-opt %s -split-input-file --moe-shard --moe-stream=chunks=2 | FileCheck %s --check-prefix=TWO
// RUN: moe-opt %s -split-input-file --moe-shard --moe-stream="chunks=2 overlap=false" --moeflow-verify-collectives | FileCheck %s --check-prefix=SEQ

// Tests the schedule of 3 chunks of the rank's 4 tokens (2, 1 and 1 tokens):
// chunk i+1's dispatch all-to-alls are started before chunk i's experts
// run, and chunk i's return is waited only after chunk i+1's experts ran;
// the router runs once over all tokens, and the chunks' weighted combines
// fill consecutive rows of the result. The schedule verifies
// (moeflow-verify-collectives) and no blocking all-to-all is left.
// CHECK-LABEL: func.func @mixtral(
// CHECK-SAME: %[[X:[a-z0-9_]+]]: tensor<4x16xf32>
// CHECK: %[[W:.*]], %[[IDX:.*]] = moe.router
// CHECK-NOT: moe.router
// D_0
// CHECK: %[[X0:.*]] = tensor.extract_slice %[[X]][0, 0] [2, 16] [1, 1]
// CHECK: %[[W0:.*]] = tensor.extract_slice %[[W]][0, 0] [2, 2] [1, 1]
// CHECK: %[[ROWS0:.*]], %{{.*}}, %[[SRC0:.*]] = moe.dispatch %[[X0]], %{{.*}} experts 4 : tensor<2x16xf32>, tensor<2x2xi32> -> tensor<4x16xf32>, tensor<5xi32>, tensor<4xi32>
// CHECK: %[[A0:.*]] = moeflow.all_to_all_v_start %[[ROWS0]], %[[C0:.*]] group @moe_grid axes [1] : tensor<4x16xf32>, tensor<2xi32> -> !moeflow.event<tensor<8x16xf32>, tensor<2xi32>>
// CHECK: %[[E0:.*]] = moeflow.all_to_all_v_start %{{.*}}, %[[C0]] group @moe_grid axes [1] : tensor<4xi32>, tensor<2xi32> -> !moeflow.event<tensor<8xi32>, tensor<2xi32>>
// D_1
// CHECK: tensor.extract_slice %[[X]][2, 0] [1, 16] [1, 1]
// CHECK: %[[A1:.*]] = moeflow.all_to_all_v_start %{{.*}} : tensor<2x16xf32>, tensor<2xi32> -> !moeflow.event<tensor<4x16xf32>, tensor<2xi32>>
// CHECK: %[[E1:.*]] = moeflow.all_to_all_v_start %{{.*}} : tensor<2xi32>, tensor<2xi32> -> !moeflow.event<tensor<4xi32>, tensor<2xi32>>
// X_0
// CHECK: %[[R0:.*]]:2 = moeflow.wait %[[A0]]
// CHECK: moeflow.wait %[[E0]]
// CHECK: moe.dispatch %[[R0]]#0, %{{.*}} experts 2 : tensor<8x16xf32>, tensor<8x1xi32>
// CHECK: moe.experts
// CHECK: %[[ARR0:.*]] = moe.combine {{.*}} -> tensor<8x16xf32>
// CHECK: %[[B0:.*]] = moeflow.all_to_all_v_start %[[ARR0]], %[[R0]]#1 group @moe_grid axes [1] : tensor<8x16xf32>, tensor<2xi32> -> !moeflow.event<tensor<4x16xf32>, tensor<2xi32>>
// D_2
// CHECK: tensor.extract_slice %[[X]][3, 0] [1, 16] [1, 1]
// CHECK: %[[A2:.*]] = moeflow.all_to_all_v_start
// CHECK: %[[E2:.*]] = moeflow.all_to_all_v_start
// X_1
// CHECK: moeflow.wait %[[A1]]
// CHECK: moeflow.wait %[[E1]]
// CHECK: moe.experts
// CHECK: %[[B1:.*]] = moeflow.all_to_all_v_start
// C_0
// CHECK: %[[BACK0:.*]]:2 = moeflow.wait %[[B0]]
// CHECK: %[[Y0:.*]] = moe.combine %[[BACK0]]#0, %[[SRC0]], %[[W0]] : tensor<4x16xf32>, tensor<4xi32>, tensor<2x2xf32> -> tensor<2x16xf32>
// CHECK: %[[OUT0:.*]] = tensor.insert_slice %[[Y0]] into %{{.*}}[0, 0] [2, 16] [1, 1]
// X_2
// CHECK: moeflow.wait %[[A2]]
// CHECK: moeflow.wait %[[E2]]
// CHECK: moe.experts
// CHECK: %[[B2:.*]] = moeflow.all_to_all_v_start
// C_1, C_2
// CHECK: moeflow.wait %[[B1]]
// CHECK: %[[OUT1:.*]] = tensor.insert_slice %{{.*}} into %[[OUT0]][2, 0] [1, 16] [1, 1]
// CHECK: moeflow.wait %[[B2]]
// CHECK: %[[OUT2:.*]] = tensor.insert_slice %{{.*}} into %[[OUT1]][3, 0] [1, 16] [1, 1]
// CHECK-NOT: moeflow.all_to_all_v
// CHECK: return %[[OUT2]]
// One chunk: the blocking exchange moe-shard wrote.
// ONE-LABEL: func.func @mixtral(
// ONE-NOT: all_to_all_v_start
// ONE-COUNT-3: moeflow.all_to_all_v {{.*}}
// Two chunks of two tokens: 6 starts and 6 waits, no blocking all-to-all.
// TWO-LABEL: func.func @mixtral(
// TWO-COUNT-6: moeflow.all_to_all_v_start
// TWO-NOT: moeflow.all_to_all_v {{.*}}
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

// Tests that under EP x ETP the shared experts and the etp all_reduce stay
// after the streamed exchange, once over all tokens, and that a layer
// without an EP exchange (ep = 1) is left as moe-shard wrote it.
// CHECK-LABEL: func.func @ep_etp(
// CHECK: moeflow.all_to_all_v_start
// CHECK: moe.shared_experts
// CHECK: moeflow.all_reduce {{.*}} : tensor<4x16xf32>
// CHECK-NOT: moeflow.all_reduce
// CHECK: return
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 4, pp = 1}, moe = {etp = 2, ep = 2, edp = 1}>} {
  func.func @ep_etp(%x: tensor<8x16xf32>, %r: tensor<16x4xf32>, %u: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>,
      %su: tensor<16x16xf32>, %sd: tensor<16x16xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd
        routing <scoring = softmax, top_k = 2> activation gelu layout in_out
        : (tensor<8x16xf32>, tensor<16x4xf32>, tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests the unoverlapped schedule of the same chunks (overlap=false): each
// chunk's dispatch, experts and return one after the other.
// SEQ-LABEL: func.func @sequential(
// SEQ: %[[A0:.*]] = moeflow.all_to_all_v_start
// SEQ: %[[E0:.*]] = moeflow.all_to_all_v_start
// SEQ-NEXT: moeflow.wait %[[A0]]
// SEQ-NEXT: moeflow.wait %[[E0]]
// SEQ: %[[B0:.*]] = moeflow.all_to_all_v_start
// SEQ-NEXT: moeflow.wait %[[B0]]
// SEQ: tensor.insert_slice {{.*}}[0, 0] [2, 16]
// SEQ: %[[A1:.*]] = moeflow.all_to_all_v_start
// SEQ: %[[E1:.*]] = moeflow.all_to_all_v_start
// SEQ-NEXT: moeflow.wait %[[A1]]
// SEQ-NEXT: moeflow.wait %[[E1]]
// SEQ: %[[B1:.*]] = moeflow.all_to_all_v_start
// SEQ-NEXT: moeflow.wait %[[B1]]
// SEQ: tensor.insert_slice {{.*}}[2, 0] [2, 16]
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @sequential(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>,
      %g: tensor<4x32x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts gate %g up %u down %d
        routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
