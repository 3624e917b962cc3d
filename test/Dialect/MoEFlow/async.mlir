// Round trip of the started collectives and their waits: print -> parse ->
// print is stable, in the custom and in the generic form.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s
// Canonicalization and CSE neither remove, merge nor reorder them.
// RUN: moe-opt %s --canonicalize --cse | FileCheck %s --check-prefix=KEEP

shard.grid @world(shape = 4x2)

// Tests a start, compute in between, and the wait that yields the results.
// CHECK-LABEL: func.func @start_and_wait
// CHECK: %[[EV:.*]] = moeflow.all_to_all_v_start %{{.*}}, %{{.*}} group @world axes [0] : tensor<?x64xbf16>, tensor<4xi64> -> !moeflow.event<tensor<256x64xbf16>, tensor<4xi64>>
// CHECK: arith.addf
// CHECK: %[[OUT:.*]]:2 = moeflow.wait %[[EV]] : !moeflow.event<tensor<256x64xbf16>, tensor<4xi64>>
// CHECK: return %[[OUT]]#0, %[[OUT]]#1
func.func @start_and_wait(%rows: tensor<?x64xbf16>, %counts: tensor<4xi64>, %x: f32) -> (tensor<256x64xbf16>, tensor<4xi64>, f32) {
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<?x64xbf16>, tensor<4xi64> -> !moeflow.event<tensor<256x64xbf16>, tensor<4xi64>>
  %y = arith.addf %x, %x : f32
  %out, %recv = moeflow.wait %ev : !moeflow.event<tensor<256x64xbf16>, tensor<4xi64>>
  return %out, %recv, %y : tensor<256x64xbf16>, tensor<4xi64>, f32
}

// Tests two collectives in flight at once, waited in the other order, over
// a group of two axes with i32 counts.
// CHECK-LABEL: func.func @two_in_flight
// CHECK: %[[A:.*]] = moeflow.all_to_all_v_start %{{.*}}, %{{.*}} group @world axes [0, 1] : tensor<16x8xf32>, tensor<8xi32> -> !moeflow.event<tensor<128x8xf32>, tensor<8xi32>>
// CHECK: %[[B:.*]] = moeflow.all_to_all_v_start %{{.*}}, %{{.*}} group @world axes [0, 1] : tensor<16xi32>, tensor<8xi32> -> !moeflow.event<tensor<128xi32>, tensor<8xi32>>
// CHECK: moeflow.wait %[[B]]
// CHECK: moeflow.wait %[[A]]
func.func @two_in_flight(%rows: tensor<16x8xf32>, %ids: tensor<16xi32>, %counts: tensor<8xi32>) -> (tensor<128x8xf32>, tensor<128xi32>) {
  %a = moeflow.all_to_all_v_start %rows, %counts group @world axes [0, 1]
      : tensor<16x8xf32>, tensor<8xi32> -> !moeflow.event<tensor<128x8xf32>, tensor<8xi32>>
  %b = moeflow.all_to_all_v_start %ids, %counts group @world axes [0, 1]
      : tensor<16xi32>, tensor<8xi32> -> !moeflow.event<tensor<128xi32>, tensor<8xi32>>
  %ids_out, %c1 = moeflow.wait %b : !moeflow.event<tensor<128xi32>, tensor<8xi32>>
  %rows_out, %c0 = moeflow.wait %a : !moeflow.event<tensor<128x8xf32>, tensor<8xi32>>
  return %rows_out, %ids_out : tensor<128x8xf32>, tensor<128xi32>
}

// Tests that identical starts whose results are unused survive
// canonicalization and CSE: each is a collective every rank issues.
// KEEP-LABEL: func.func @unused_results
// KEEP-COUNT-2: moeflow.all_to_all_v_start
// KEEP-COUNT-2: moeflow.wait
func.func @unused_results(%rows: tensor<16x8xf32>, %counts: tensor<2xi64>) {
  %a = moeflow.all_to_all_v_start %rows, %counts group @world axes [1]
      : tensor<16x8xf32>, tensor<2xi64> -> !moeflow.event<tensor<32x8xf32>, tensor<2xi64>>
  %b = moeflow.all_to_all_v_start %rows, %counts group @world axes [1]
      : tensor<16x8xf32>, tensor<2xi64> -> !moeflow.event<tensor<32x8xf32>, tensor<2xi64>>
  %o0, %c0 = moeflow.wait %a : !moeflow.event<tensor<32x8xf32>, tensor<2xi64>>
  %o1, %c1 = moeflow.wait %b : !moeflow.event<tensor<32x8xf32>, tensor<2xi64>>
  return
}
