// Tests that --bundle-shard applies the module's plan: the manifest carries
// the grid and, per split tensor, its split axes, full shape and expert
// permutation ("shape" stays the rank's block); the kernels are the program of
// one rank (they call the moert_comm_* ABI); the reference program is the
// unsharded layer on full shapes. Without --bundle-shard the plan is only an
// annotation: a single-rank bundle.

// RUN: moe-translate --moe-to-bundle --bundle-shard %s -o %t.bundle
// RUN: FileCheck %s --input-file=%t.bundle
// RUN: moe-translate --moe-to-bundle %s -o %t.single.bundle
// RUN: FileCheck %s --input-file=%t.single.bundle --check-prefix=SINGLE

// CHECK: MOEBNDL1
// CHECK-LABEL: "functions": [
// CHECK:         "inputs": [
// CHECK:           "full_shape": [
// CHECK-NEXT:       8,
// CHECK-NEXT:       16
// CHECK-NEXT:      ],
// CHECK-NEXT:      "name": "x",
// CHECK-NEXT:      "shape": [
// CHECK-NEXT:       4,
// CHECK-NEXT:       16
// CHECK-NEXT:      ],
// CHECK-NEXT:      "split_axes": [
// CHECK-NEXT:       [
// CHECK-NEXT:        0,
// CHECK-NEXT:        1
// CHECK-NEXT:       ],
// CHECK-NEXT:       []
// CHECK-NEXT:      ]
// CHECK:           "name": "router",
// CHECK-NEXT:      "shape": [
// CHECK-NEXT:       4,
// CHECK-NEXT:       16
// CHECK-NEXT:      ]
// CHECK-NEXT:     },
// CHECK:           "expert_permutation": [
// CHECK-NEXT:       2,
// CHECK-NEXT:       3,
// CHECK-NEXT:       0,
// CHECK-NEXT:       1
// CHECK-NEXT:      ],
// CHECK-NEXT:      "full_shape": [
// CHECK-NEXT:       4,
// CHECK-NEXT:       32,
// CHECK-NEXT:       16
// CHECK-NEXT:      ],
// CHECK-NEXT:      "name": "up",
// CHECK-NEXT:      "shape": [
// CHECK-NEXT:       2,
// CHECK-NEXT:       16,
// CHECK-NEXT:       16
// CHECK-NEXT:      ],
// CHECK-NEXT:      "split_axes": [
// CHECK-NEXT:       [
// CHECK-NEXT:        1
// CHECK-NEXT:       ],
// CHECK-NEXT:       [
// CHECK-NEXT:        2
// CHECK-NEXT:       ],
// CHECK-NEXT:       []
// CHECK-NEXT:      ]
// CHECK:           "name": "down",
// CHECK:         "outputs": [
// CHECK:           "full_shape": [
// CHECK-NEXT:       8,
// CHECK-NEXT:       16
// CHECK-NEXT:      ],
// CHECK-NEXT:      "name": "result0",
// CHECK-NEXT:      "shape": [
// CHECK-NEXT:       4,
// CHECK-NEXT:       16
// CHECK-NEXT:      ],
// CHECK:       "grid": [
// CHECK-NEXT:   1,
// CHECK-NEXT:   2,
// CHECK-NEXT:   2
// CHECK-NEXT:  ],
// CHECK:       "op": "moe.layer",
// CHECK:       "values": [
// CHECK:          "shape": [
// CHECK-NEXT:      8,
// CHECK-NEXT:      16
// CHECK-NEXT:     ]
// CHECK:       moert_comm_all_to_all_v
// CHECK:       moert_comm_all_reduce

// SINGLE-NOT: "split_axes"
// SINGLE-NOT: "grid"
// SINGLE:     "name": "x",
// SINGLE-NEXT: "shape": [
// SINGLE-NEXT:  8,
// SINGLE-NOT: moert_comm
module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 2, pp = 1}, moe = {etp = 2, ep = 2, edp = 1}>} {
  func.func @layer(%x: tensor<8x16xf32> {moe.input = "x"}, %r: tensor<4x16xf32> {moe.input = "router"},
      %u: tensor<4x32x16xf32> {moe.input = "up"}, %d: tensor<4x16x32xf32> {moe.input = "down"}) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        {moe.expert_permutation = array<i64: 2, 3, 0, 1>}
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
