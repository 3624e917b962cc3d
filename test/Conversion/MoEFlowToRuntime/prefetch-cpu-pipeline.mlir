// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cpu-pipeline{lower-to-llvm=false emit-c-interfaces=false})' | FileCheck %s

// Tests that moe-cpu-pipeline compiles a layer whose up-projection weights
// are prefetched from the host tier: the copy starts before the routing, into
// a buffer of its own, and is waited for just before the expert loop reads
// it; ownership-based deallocation frees the buffer (after the wait and its
// readers), and the argument keeps its tier.
// CHECK-DAG: func.func private @moert_tier_fetch_start(!llvm.ptr, !llvm.ptr, i64) -> i64
// CHECK-DAG: func.func private @moert_tier_fetch_wait(i64)
// CHECK-LABEL: func.func @layer(
// CHECK-SAME: %[[U:[a-z0-9_]+]]: memref<4x32x16xf32> {moe.tier = #moe.tier<host>}
// CHECK-DAG: %[[BYTES:.*]] = arith.constant 8192 : i64
// CHECK: %[[COPY:.*]] = memref.alloc() : memref<4x32x16xf32>
// CHECK: memref.extract_aligned_pointer_as_index %[[U]]
// CHECK: memref.extract_aligned_pointer_as_index %[[COPY]]
// CHECK: %[[H:.*]] = call @moert_tier_fetch_start(%{{.*}}, %{{.*}}, %[[BYTES]])
// CHECK: scf.for
// CHECK: call @moert_tier_fetch_wait(%[[H]])
// CHECK-NEXT: scf.for
// CHECK: memref.subview %[[COPY]]
// CHECK: memref.dealloc %[[COPY]]
// CHECK-NOT: moeflow.
// CHECK: return
func.func @layer(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>,
    %u: tensor<4x32x16xf32> {moe.tier = #moe.tier<host>},
    %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  %up = moeflow.prefetch %u from <host> to <hbm> : tensor<4x32x16xf32>
  %y = moe.layer %x router %r experts up %up down %d
      routing <scoring = softmax, top_k = 2> activation relu layout out_in
      : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}
