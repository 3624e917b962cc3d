// RUN: moe-opt %s --moe-shard --moe-stream=chunks=2 | moe-opt --pass-pipeline='builtin.module(moe-cpu-pipeline{lower-to-llvm=false emit-c-interfaces=false})' | FileCheck %s

// Tests that moe-cpu-pipeline compiles a streamed layer: the starts and waits
// become runtime calls in the schedule's order (both chunks' dispatch
// all-to-alls started before the first wait), and a receive buffer (the
// lowering's, without bufferization's alignment) stays allocated past its
// wait, which writes it, and its readers.
// CHECK-LABEL: func.func @mixtral(
// CHECK: %[[RECV:.*]] = memref.alloc() : memref<8x16xf32>
// CHECK: %[[A0:.*]] = call @moert_comm_all_to_all_v_start(
// CHECK: %[[E0:.*]] = call @moert_comm_all_to_all_v_start(
// CHECK: call @moert_comm_all_to_all_v_start(
// CHECK: call @moert_comm_all_to_all_v_start(
// CHECK: call @moert_comm_all_to_all_v_wait(%[[A0]],
// CHECK: call @moert_comm_all_to_all_v_wait(%[[E0]],
// CHECK: memref.subview %[[RECV]]
// CHECK: memref.dealloc %[[RECV]]
// CHECK-NOT: moeflow.
// CHECK: return
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @mixtral(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>,
      %g: tensor<4x32x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts gate %g up %u down %d
        routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
