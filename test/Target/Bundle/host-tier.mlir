// Tests that an input whose argument lives in host memory
// (`moe.tier = #moe.tier<host>`, read through a moeflow.prefetch) is marked
// "tier": "host" in its manifest entry and in its schedule buffer, and no
// other input is; the kernels call the runtime's tier ABI, and the reference
// program reads the prefetched weights as the argument itself.

// RUN: moe-translate --moe-to-bundle %s -o %t.bundle 2>&1 | FileCheck %s --check-prefix=WARN --allow-empty
// RUN: FileCheck %s --input-file=%t.bundle

// WARN-NOT: warning

// CHECK: MOEBNDL1
// Manifest (keys sorted by the JSON writer): only the up weights have a tier.
// CHECK:      "inputs": [
// CHECK:        "name": "arg0",
// CHECK-NEXT:   "shape": [
// CHECK-NEXT:    8,
// CHECK-NEXT:    16
// CHECK-NEXT:   ]
// CHECK-NEXT:  },
// CHECK:        "name": "arg1",
// CHECK-NEXT:   "shape": [
// CHECK-NEXT:    4,
// CHECK-NEXT:    16
// CHECK-NEXT:   ]
// CHECK-NEXT:  },
// CHECK:        "name": "experts.up",
// CHECK-NEXT:   "shape": [
// CHECK-NEXT:    4,
// CHECK-NEXT:    32,
// CHECK-NEXT:    16
// CHECK-NEXT:   ],
// CHECK-NEXT:   "tier": "host"
// CHECK-NEXT:  },
// CHECK:        "name": "arg3",
// CHECK-NEXT:   "shape": [
// CHECK-NEXT:    4,
// CHECK-NEXT:    16,
// CHECK-NEXT:    32
// CHECK-NEXT:   ]
// CHECK-NEXT:  }
// CHECK-NEXT: ],
// CHECK:      "name": "result0",
// CHECK-NOT:  "tier"
// CHECK:      "target": "cpu-x86_64"

// Schedule: kernel arguments carry no tier; the program's buffers (inputs,
// then the result) do where the input has one.
// CHECK:      "kernels": [
// CHECK-NOT:  "tier"
// CHECK:      "programs": [
// CHECK:        "buffers": [
// CHECK-NEXT:    {
// CHECK-NEXT:     "dtype": "f32",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:      8,
// CHECK-NEXT:      16
// CHECK-NEXT:     ]
// CHECK-NEXT:    },
// CHECK-NEXT:    {
// CHECK-NEXT:     "dtype": "f32",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:      4,
// CHECK-NEXT:      16
// CHECK-NEXT:     ]
// CHECK-NEXT:    },
// CHECK-NEXT:    {
// CHECK-NEXT:     "dtype": "f32",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:      4,
// CHECK-NEXT:      32,
// CHECK-NEXT:      16
// CHECK-NEXT:     ],
// CHECK-NEXT:     "tier": "host"
// CHECK-NEXT:    },
// CHECK-NEXT:    {
// CHECK-NEXT:     "dtype": "f32",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:      4,
// CHECK-NEXT:      16,
// CHECK-NEXT:      32
// CHECK-NEXT:     ]
// CHECK-NEXT:    },
// CHECK-NEXT:    {
// CHECK-NEXT:     "dtype": "f32",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:      8,
// CHECK-NEXT:      16
// CHECK-NEXT:     ]
// CHECK-NEXT:    }
// CHECK-NEXT:   ],
// CHECK:        "commands": [

// Reference: the layer reads the argument (value 2) as its up weights.
// CHECK:        "op": "moe.layer",
// CHECK-NEXT:   "operands": {
// CHECK:          "up_weight": 2
// CHECK: ELF
// CHECK-DAG: moert_tier_fetch_start
// CHECK-DAG: moert_tier_fetch_wait
func.func @layer(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>,
    %u: tensor<4x32x16xf32> {moe.input = "experts.up", moe.tier = #moe.tier<host>},
    %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  %up = moeflow.prefetch %u from <host> to <hbm> : tensor<4x32x16xf32>
  %y = moe.layer %x router %r experts up %up down %d
      routing <scoring = softmax, top_k = 2> activation relu layout out_in
      : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}
