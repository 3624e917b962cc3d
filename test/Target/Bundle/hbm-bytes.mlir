// Tests --bundle-hbm-bytes: moe-plan-tiers plans the weights for the budget
// (group 0 resident, groups 1 to 3 streamed from host memory), so the inputs
// of the streamed layers, and only those, are marked "tier": "host" in the
// manifest and the schedule, and the kernels prefetch them through the
// runtime's tier ABI. The reference program stays the unplanned one. A budget
// the weights cannot stream in is the planner's located error.

// RUN: moe-translate --moe-to-bundle --bundle-hbm-bytes=50000 %s -o %t.bundle
// RUN: FileCheck %s --input-file=%t.bundle
// RUN: not moe-translate --moe-to-bundle --bundle-hbm-bytes=100 %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=TIGHT

// TIGHT: hbm-bytes.mlir:[[@LINE+33]]:1: error: {{.*}}hbm-bytes is 100
// TIGHT: error: moe-plan-tiers could not plan the memory tiers for an HBM budget of 100 bytes (--bundle-hbm-bytes)

// CHECK: MOEBNDL1
// CHECK:      "inputs": [
// CHECK:        "name": "arg3",
// CHECK-NEXT:   "shape": [
// CHECK-NEXT:    4,
// CHECK-NEXT:    16,
// CHECK-NEXT:    32
// CHECK-NEXT:   ]
// CHECK-NEXT:  },
// CHECK:        "name": "arg4",
// CHECK-NEXT:   "shape": [
// CHECK-NEXT:    4,
// CHECK-NEXT:    16
// CHECK-NEXT:   ],
// CHECK-NEXT:   "tier": "host"
// CHECK:        "name": "arg12",
// CHECK-NEXT:   "shape": [
// CHECK-NEXT:    4,
// CHECK-NEXT:    16,
// CHECK-NEXT:    32
// CHECK-NEXT:   ],
// CHECK-NEXT:   "tier": "host"
// CHECK:      "programs": [
// CHECK-COUNT-9: "tier": "host"
// CHECK-NOT:  "tier"
// CHECK:      "programs": [
// CHECK-NOT:  moeflow.prefetch
// CHECK: ELF
// CHECK-DAG: moert_tier_fetch_start
// CHECK-DAG: moert_tier_fetch_wait
func.func @four(
    %x: tensor<8x16xf32>,
    %r0: tensor<4x16xf32>,
    %u0: tensor<4x32x16xf32>,
    %d0: tensor<4x16x32xf32>,
    %r1: tensor<4x16xf32>,
    %u1: tensor<4x32x16xf32>,
    %d1: tensor<4x16x32xf32>,
    %r2: tensor<4x16xf32>,
    %u2: tensor<4x32x16xf32>,
    %d2: tensor<4x16x32xf32>,
    %r3: tensor<4x16xf32>,
    %u3: tensor<4x32x16xf32>,
    %d3: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  %y0 = moe.layer %x router %r0 experts up %u0 down %d0
      routing <scoring = softmax, top_k = 2> activation relu layout out_in
      : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  %y1 = moe.layer %y0 router %r1 experts up %u1 down %d1
      routing <scoring = softmax, top_k = 2> activation relu layout out_in
      : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  %y2 = moe.layer %y1 router %r2 experts up %u2 down %d2
      routing <scoring = softmax, top_k = 2> activation relu layout out_in
      : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  %y3 = moe.layer %y2 router %r3 experts up %u3 down %d3
      routing <scoring = softmax, top_k = 2> activation relu layout out_in
      : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %y3 : tensor<8x16xf32>
}
