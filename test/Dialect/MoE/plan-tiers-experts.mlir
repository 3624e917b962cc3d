// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=11000 expert-fetch=predicted" | FileCheck %s --check-prefix=PREDICTED
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=11000 expert-fetch=routed" | FileCheck %s --check-prefix=ROUTED
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=11000 expert-fetch=predicted explain=true" -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=11000 expert-fetch=predicted" --moe-decompose | FileCheck %s --check-prefix=DECOMPOSED
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=11000 expert-fetch=predicted" --moe-decompose --moe-cpu-pipeline -o /dev/null

// Expert fetches (docs/memory-tiers.md §7). Weights are f32: a router
// [4, 8] is 128 bytes, an expert tensor [4, 16, 8] 2048. Budget 11000 with
// lookahead 1 holds two streamed layers of 2 or 3 expert tensors plus the
// pinned routers (3 x 128 bytes and a bias of 16), so every layer streams.

// Tests that in predicted mode the routers and the bias stay resident
// (pinned: the predictions read them ahead of their layers).
// EXPLAIN: remark: moe-plan-tiers: '@three' with hbm-bytes 11000 and lookahead 1: resident groups none (400 bytes, 400 of them pinned); streamed groups 0, 1, 2 (14336 bytes); staging 10240 bytes

// Tests that layer 0, copied before the body (no earlier layer's tokens),
// fetches its routed experts only; that layer 1's experts are predicted by
// its router on layer 0's tokens and layer 2's (bias and routing included)
// on layer 1's, computed before the layer the copy is issued at; and that
// the layers read the partial copies.
// PREDICTED-LABEL: func.func @three(
// PREDICTED-SAME: %arg1: tensor<4x8xf32>, %arg2: tensor<4x16x8xf32> {moe.tier = #moe.tier<host>}
// PREDICTED-SAME: %arg4: tensor<4x8xf32>, %arg5: tensor<4x16x8xf32> {moe.tier = #moe.tier<host>}
// PREDICTED-SAME: %arg7: tensor<4x8xf32>, %arg8: tensor<4xf32>, %arg9
// PREDICTED-NEXT: %[[U0:.*]] = moeflow.prefetch_experts %arg2 from <host> to <hbm> : tensor<4x16x8xf32>
// PREDICTED-NEXT: %[[D0:.*]] = moeflow.prefetch_experts %arg3 from <host> to <hbm> : tensor<4x8x16xf32>
// PREDICTED: %[[L1:.*]] = linalg.matmul {{.*}}ins(%arg0, %arg4 : tensor<4x8xf32>, tensor<4x8xf32>)
// PREDICTED-NEXT: %{{.*}}, %[[GUESS1:.*]] = moe.router %[[L1]] routing <scoring = softmax, top_k = 2>
// PREDICTED-NEXT: %[[U1:.*]] = moeflow.prefetch_experts %arg5 predicted(%[[GUESS1]] : tensor<4x2xi32>) from <host> to <hbm>
// PREDICTED-NEXT: %[[D1:.*]] = moeflow.prefetch_experts %arg6 predicted(%[[GUESS1]] : tensor<4x2xi32>) from <host> to <hbm>
// PREDICTED-NEXT: %[[Y0:.*]] = moe.layer %arg0 router %arg1 experts up %[[U0]] down %[[D0]]
// PREDICTED: %[[L2:.*]] = linalg.matmul {{.*}}ins(%[[Y0]], %arg7 : tensor<4x8xf32>, tensor<4x8xf32>)
// PREDICTED-NEXT: %{{.*}}, %[[GUESS2:.*]] = moe.router %[[L2]] bias %arg8 routing <scoring = sigmoid, top_k = 2>
// PREDICTED-NEXT: %[[G2:.*]] = moeflow.prefetch_experts %arg9 predicted(%[[GUESS2]] : tensor<4x2xi32>)
// PREDICTED-NEXT: %[[U2:.*]] = moeflow.prefetch_experts %arg10 predicted(%[[GUESS2]] : tensor<4x2xi32>)
// PREDICTED-NEXT: %[[D2:.*]] = moeflow.prefetch_experts %arg11 predicted(%[[GUESS2]] : tensor<4x2xi32>)
// PREDICTED-NEXT: %[[Y1:.*]] = moe.layer %[[Y0]] router %arg4 experts up %[[U1]] down %[[D1]]
// PREDICTED-NEXT: moe.layer %[[Y1]] router %arg7 bias %arg8 experts gate %[[G2]] up %[[U2]] down %[[D2]]

// Tests that routed mode predicts nothing, streams the routers whole, and
// copies the expert weights by expert.
// ROUTED-LABEL: func.func @three(
// ROUTED-SAME: %arg1: tensor<4x8xf32> {moe.tier = #moe.tier<host>}
// ROUTED-NOT: moe.router
// ROUTED: moeflow.prefetch %arg1 from <host> to <hbm> : tensor<4x8xf32>
// ROUTED-NEXT: moeflow.prefetch_experts %arg2 from <host> to <hbm> : tensor<4x16x8xf32>
// ROUTED-NEXT: moeflow.prefetch_experts %arg3 from <host> to <hbm> : tensor<4x8x16xf32>
// ROUTED-NOT: moe.router
// ROUTED: moeflow.prefetch %arg8 from <host> to <hbm> : tensor<4xf32>
// ROUTED-NOT: predicted

// Tests that moe-decompose completes each partial copy with the layer's
// own routing before its expert GEMMs, and moves the next layer's
// prefetches (issued before this layer) after those awaits, so that this
// layer's misses are copied first.
// DECOMPOSED-LABEL: func.func @three(
// DECOMPOSED: %[[U0:.*]] = moeflow.prefetch_experts %arg2 from <host> to <hbm>
// DECOMPOSED: %[[D0:.*]] = moeflow.prefetch_experts %arg3 from <host> to <hbm>
// DECOMPOSED: %{{.*}}, %[[IDX0:.*]] = moe.router
// DECOMPOSED: %{{.*}}, %[[IDX0_:.*]] = moe.router
// DECOMPOSED: %[[ROWS:.*]], %[[OFFSETS:.*]], %{{.*}} = moe.dispatch %arg0, %[[IDX0_]]
// DECOMPOSED-NEXT: %[[AU:.*]] = moeflow.await_experts %[[U0]] routed(%[[IDX0_]] : tensor<4x2xi32>) : tensor<4x16x8xf32>
// DECOMPOSED-NEXT: %[[AD:.*]] = moeflow.await_experts %[[D0]] routed(%[[IDX0_]] : tensor<4x2xi32>) : tensor<4x8x16xf32>
// DECOMPOSED-NEXT: moeflow.prefetch_experts %arg5 predicted(%[[IDX0]] : tensor<4x2xi32>)
// DECOMPOSED-NEXT: moeflow.prefetch_experts %arg6 predicted(%[[IDX0]] : tensor<4x2xi32>)
// DECOMPOSED-NEXT: moe.experts %[[ROWS]], %[[OFFSETS]] up %[[AU]] down %[[AD]]
// DECOMPOSED-COUNT-5: moeflow.await_experts
// DECOMPOSED-NOT: moeflow.await_experts
// DECOMPOSED-LABEL: func.func @mixed(
func.func @three(%x: tensor<4x8xf32>,
    %r0: tensor<4x8xf32>, %u0: tensor<4x16x8xf32>, %d0: tensor<4x8x16xf32>,
    %r1: tensor<4x8xf32>, %u1: tensor<4x16x8xf32>, %d1: tensor<4x8x16xf32>,
    %r2: tensor<4x8xf32>, %b2: tensor<4xf32>, %g2: tensor<4x16x8xf32>,
    %u2: tensor<4x16x8xf32>, %d2: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
  %y0 = moe.layer %x router %r0 experts up %u0 down %d0
      routing <scoring = softmax, top_k = 2> activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x8x16xf32>) -> tensor<4x8xf32>
  %y1 = moe.layer %y0 router %r1 experts up %u1 down %d1
      routing <scoring = softmax, top_k = 2> activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x8x16xf32>) -> tensor<4x8xf32>
  %y2 = moe.layer %y1 router %r2 bias %b2 experts gate %g2 up %u2 down %d2
      routing <scoring = sigmoid, top_k = 2> activation silu layout out_in
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
  return %y2 : tensor<4x8xf32>
}

// Tests that a chain and a shared expert FFN are copied whole in predicted
// mode (only a moe.layer's gate/up/down split by expert), and that a layer
// whose copy is issued before an op of other tokens is fetched as routed.
// PREDICTED-LABEL: func.func @mixed(
// PREDICTED: moeflow.prefetch %arg{{[0-9]+}} from <host> to <hbm> : tensor<2x4x8xf32>
// PREDICTED: moeflow.prefetch %arg{{[0-9]+}} from <host> to <hbm> : tensor<4x16x8xf32>
// PREDICTED: moeflow.prefetch %arg{{[0-9]+}} from <host> to <hbm> : tensor<4x8x16xf32>
// PREDICTED: moe.chain
// PREDICTED-NOT: predicted(
// PREDICTED: moeflow.prefetch_experts %arg{{[0-9]+}} from <host> to <hbm> : tensor<4x16x8xf32>
// PREDICTED: moe.shared_experts
// PREDICTED: moe.layer
func.func @mixed(%x: tensor<4x8xf32>, %z: tensor<2x8xf32>,
    %r0: tensor<4x8xf32>, %u0: tensor<4x16x8xf32>, %d0: tensor<4x8x16xf32>,
    %rc: tensor<2x4x8xf32>, %uc: tensor<4x16x8xf32>, %dc: tensor<4x8x16xf32>,
    %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>,
    %r1: tensor<4x8xf32>, %u1: tensor<4x16x8xf32>, %d1: tensor<4x8x16xf32>)
    -> (tensor<4x8xf32>, tensor<2x8xf32>) {
  %y0 = moe.layer %x router %r0 experts up %u0 down %d0
      routing <scoring = softmax, top_k = 2> activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x8x16xf32>) -> tensor<4x8xf32>
  %c = moe.chain %y0 iterations 2 router %rc experts up %uc down %dc
      routing <scoring = softmax, top_k = 2> activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x8x16xf32>) -> tensor<4x8xf32>
  %s = moe.shared_experts %z up %su down %sd activation gelu layout out_in
      : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<2x8xf32>
  %y1 = moe.layer %c router %r1 experts up %u1 down %d1
      routing <scoring = softmax, top_k = 2> activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x8x16xf32>) -> tensor<4x8xf32>
  return %y1, %s : tensor<4x8xf32>, tensor<2x8xf32>
}
