// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{lower-to-llvm=false})' | FileCheck %s

// Tests that moe-cuda-pipeline keeps a prefetch's start and wait in host
// code around device buffers: the copy lands in a gpu.alloc, the wait comes
// just before the kernel that reads it, and the copy is freed right after
// that kernel (deallocate-prefetched), not again at the return.
// CHECK-DAG: func.func private @moert_tier_fetch_start(!llvm.ptr, !llvm.ptr, i64) -> i64
// CHECK-DAG: func.func private @moert_tier_fetch_wait(i64)
// CHECK-LABEL: func.func @layer(
// CHECK-SAME: %[[U:[a-z0-9_]+]]: memref<4x32x16xf32> {moe.tier = #moe.tier<host>}
// CHECK: %[[COPY:.*]] = gpu.alloc () : memref<4x32x16xf32>
// CHECK: memref.extract_aligned_pointer_as_index %[[U]]
// CHECK: memref.extract_aligned_pointer_as_index %[[COPY]]
// CHECK: %[[H:.*]] = call @moert_tier_fetch_start(
// CHECK: gpu.launch
// CHECK: call @moert_tier_fetch_wait(%[[H]])
// CHECK-NEXT: gpu.launch
// CHECK: memref.load %[[COPY]]
// CHECK: gpu.terminator
// CHECK-NEXT: }
// CHECK-NEXT: gpu.dealloc %[[COPY]]
// CHECK-NOT: %[[COPY]]{{[^_0-9a-z]}}
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
