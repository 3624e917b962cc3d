// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false})' | FileCheck %s

// Tests that moe-cuda-pipeline keeps a prefetch's start, wait and release in
// host code around device buffers: the wait, just before the kernel that
// reads the weights, returns the runtime's buffer, which the kernel reads
// through a view (no gpu.alloc, no copy); the buffer is given back right
// after that kernel (release-prefetched) and never freed by the function.
// CHECK-DAG: func.func private @moert_tier_fetch_start(!llvm.ptr, i64) -> i64
// CHECK-DAG: func.func private @moert_tier_fetch_wait(i64) -> memref<?xi8> attributes {llvm.emit_c_interface}
// CHECK-DAG: func.func private @moert_tier_fetch_release(i64)
// CHECK-LABEL: func.func @layer(
// CHECK-SAME: %[[U:[a-z0-9_]+]]: memref<4x32x16xf32> {moe.tier = #moe.tier<host>}
// CHECK: memref.extract_aligned_pointer_as_index %[[U]]
// CHECK: %[[H:.*]] = call @moert_tier_fetch_start(
// CHECK: gpu.launch
// CHECK: %[[B:.*]] = call @moert_tier_fetch_wait(%[[H]]) : (i64) -> memref<?xi8>
// CHECK-NEXT: %[[V:.*]] = memref.view %[[B]][%{{.*}}][] : memref<?xi8> to memref<4x32x16xf32>
// CHECK-NEXT: gpu.launch
// CHECK: memref.load %[[V]]
// CHECK: gpu.terminator
// CHECK-NEXT: }
// CHECK-NEXT: call @moert_tier_fetch_release(%[[H]]) : (i64) -> ()
// CHECK-NOT: %[[V]]{{[^_0-9a-z]}}
// CHECK-NOT: %[[B]]{{[^_0-9a-z]}}
// CHECK-NOT: moert_tier_fetch_release
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
