// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cpu-pipeline{lower-to-llvm=false emit-c-interfaces=false})' | FileCheck %s

// Tests that moe-cpu-pipeline compiles a layer whose up-projection weights
// are prefetched from the host tier: the copy starts before the routing, the
// wait, just before the expert loop reads the weights, returns the runtime's
// buffer (memref<?xi8>, through the C interface), which the loop reads
// through a view, with no copy; there is no release (the CPU pipeline owns
// the buffer): ownership-based deallocation frees it exactly once, after its
// readers; and the argument keeps its tier.
// CHECK-DAG: func.func private @moert_tier_fetch_start(!llvm.ptr, i64) -> i64
// CHECK-DAG: func.func private @moert_tier_fetch_wait(i64) -> memref<?xi8> attributes {llvm.emit_c_interface}
// CHECK-NOT: moert_tier_fetch_release
// CHECK-LABEL: func.func @layer(
// CHECK-SAME: %[[U:[a-z0-9_]+]]: memref<4x32x16xf32> {moe.tier = #moe.tier<host>}
// CHECK-DAG: %[[BYTES:.*]] = arith.constant 8192 : i64
// CHECK: memref.extract_aligned_pointer_as_index %[[U]]
// CHECK: %[[H:.*]] = call @moert_tier_fetch_start(%{{.*}}, %[[BYTES]])
// CHECK: scf.for
// CHECK: %[[B:.*]] = call @moert_tier_fetch_wait(%[[H]]) : (i64) -> memref<?xi8>
// CHECK-NEXT: %[[V:.*]] = memref.view %[[B]][%{{.*}}][] : memref<?xi8> to memref<4x32x16xf32>
// CHECK-NEXT: scf.for
// CHECK-NOT: memref.copy
// CHECK: memref.subview %[[V]]
// CHECK-NOT: memref.copy
// CHECK: %[[BASE:.*]], %{{.*}}, %{{.*}}, %{{.*}} = memref.extract_strided_metadata %[[B]]
// CHECK-NOT: memref.dealloc %[[B]]
// CHECK: memref.dealloc %[[BASE]] : memref<i8>
// CHECK-NOT: memref.dealloc %[[BASE]]
// CHECK-NOT: memref.dealloc %[[B]]
// CHECK-NOT: moeflow.
// CHECK: return
// CHECK-NOT: moert_tier_fetch_release
func.func @layer(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>,
    %u: tensor<4x32x16xf32> {moe.tier = #moe.tier<host>},
    %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  %up = moeflow.prefetch %u from <host> to <hbm> : tensor<4x32x16xf32>
  %y = moe.layer %x router %r experts up %up down %d
      routing <scoring = softmax, top_k = 2> activation relu layout out_in
      : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}
