// Tests --bundle-shard --bundle-target=cuda: the rank's program is compiled for
// the GPU, its collectives are host calls of the runtime's moert_comm_* ABI on
// device buffers (NCCL on the run's stream at run time), and the manifest
// carries the grid and the split tensors.

// REQUIRES: ptxas
// RUN: moe-translate --moe-to-bundle --bundle-shard --bundle-target=cuda %s -o %t.bundle
// RUN: FileCheck %s --input-file=%t.bundle

// CHECK: MOEBNDL1
// CHECK-SAME: cuda-sm_90a
// CHECK: "full_shape": [
// CHECK-NEXT: 8,
// CHECK: "split_axes": [
// CHECK: "grid": [
// CHECK-NEXT: 1,
// CHECK-NEXT: 2,
// CHECK-NEXT: 1
// CHECK: ELF
// CHECK-DAG: moert_comm_all_to_all_v
// CHECK-DAG: mgpuLaunchKernel
// CHECK-DAG: mgpuStreamSynchronize
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @cuda(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
