// Tests that a composition of experts becomes a function the runtime serves:
// its manifest entry has no kernel symbol and a "composition" naming, per
// model, the compiled function that runs it and which of the composition's
// inputs it takes (the requests first, then its weights); the models are
// bundle functions of their own even though they are private here, and with
// weights_tier = #moe.tier<host> their layers' weights live in host memory.
// moe-run serves it request by request (--route picks each request's model)
// and --check compares with the reference program.

// RUN: moe-translate --moe-to-bundle %s -o %t.bundle
// RUN: FileCheck %s --input-file=%t.bundle
// RUN: moe-run %t.bundle --function serve --route 1,small,1 --check | FileCheck %s --check-prefix=SERVE
// RUN: not moe-run %t.bundle --function serve --route 1,0 2>&1 | FileCheck %s --check-prefix=COUNT
// RUN: not moe-run %t.bundle --function serve --route 1,big,0 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: not moe-run %t.bundle --function small --route 0 2>&1 | FileCheck %s --check-prefix=PLAIN
// RUN: not moe-run %t.bundle --function serve --tier-cache 1M 2>&1 | FileCheck %s --check-prefix=CACHE
// RUN: not moe-run %t.bundle --function serve --tier-cache 1T 2>&1 | FileCheck %s --check-prefix=BYTES

// CHECK: MOEBNDL1
// The models first (module order), each with its kernel; their weights in
// host memory.
// CHECK:      "tier": "host"
// CHECK:      "name": "small",
// CHECK:      "symbol": "_mlir_ciface_small"
// CHECK:      "name": "large",
// CHECK:      "symbol": "_mlir_ciface_large"
// CHECK:      "composition": {
// CHECK-NEXT:   "models": [
// CHECK-NEXT:    {
// CHECK-NEXT:     "function": "small",
// CHECK-NEXT:     "inputs": [
// CHECK-NEXT:      1,
// CHECK-NEXT:      2,
// CHECK-NEXT:      3,
// CHECK-NEXT:      4,
// CHECK-NEXT:      5
// CHECK-NEXT:     ]
// CHECK-NEXT:    },
// CHECK-NEXT:    {
// CHECK-NEXT:     "function": "large",
// CHECK-NEXT:     "inputs": [
// CHECK-NEXT:      1,
// CHECK-NEXT:      6,
// CHECK-NEXT:      7,
// CHECK-NEXT:      8,
// CHECK-NEXT:      9
// CHECK-NEXT:     ]
// CHECK-NEXT:    }
// CHECK-NEXT:   ],
// CHECK-NEXT:   "requests": 1,
// CHECK-NEXT:   "selector": 0
// CHECK-NEXT:  },
// CHECK:      "name": "serve",
// CHECK-NEXT: "outputs": [
// CHECK-NOT:  "symbol"
// CHECK:      "kernels": [
// The schedule: two kernels, and an empty program for the composition.
// CHECK:      "buffers": [],
// CHECK-NEXT: "commands": [],
// CHECK-NEXT: "function": "serve"

// SERVE-DAG: input    arg0 f32 [3, 2]  (--route 1,small,1)
// The memory line sums the requests' model runs.
// SERVE: memory   12 host-tier fetches (105728 bytes)
// SERVE: request  0 model large  {{.*}} ms  4 fetches (49664 bytes, 0 hits)  first
// SERVE: request  1 model small  {{.*}} ms  4 fetches (6400 bytes, 0 hits)  switch
// SERVE: request  2 model large  {{.*}} ms  4 fetches (49664 bytes, 0 hits)  switch
// SERVE: serve    3 requests in {{.*}} ms (mean {{.*}} ms); 3 with a model switch (mean {{.*}} ms), 0 without; 105728 bytes fetched, 0 of 12 fetches hit the cache
// SERVE: check    PASS

// COUNT: moe-run: error: --route: 2 models for 3 requests (the selector's rows); give one per request
// NAME: moe-run: error: --route: 'big' is neither a model column (0 to 1) nor a model's name
// PLAIN: moe-run: error: --route: function 'small' is not a composition of experts
// CACHE: moe-run: error: --tier-cache: a tier cache belongs to cuda sessions; on the cpu host-tier buffers are host memory already
// BYTES: moe-run: error: --tier-cache: '1T' is not a byte count (an integer, optionally with K, M or G)

func.func private @small(%x: tensor<4x16xf32>, %router: tensor<4x16xf32>,
                         %gate: tensor<4x8x16xf32>, %up: tensor<4x8x16xf32>,
                         %down: tensor<4x16x8xf32>) -> tensor<4x16xf32> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>,
         tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

func.func @large(%x: tensor<4x16xf32>, %router: tensor<8x16xf32>,
                 %gate: tensor<8x32x16xf32>, %up: tensor<8x32x16xf32>,
                 %down: tensor<8x16x32xf32>) -> tensor<4x16xf32> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = false>
      activation silu layout out_in
      : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8x32x16xf32>,
         tensor<8x32x16xf32>, tensor<8x16x32xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

func.func @serve(%selector: tensor<3x2xf32>, %requests: tensor<3x4x16xf32>,
                 %s_router: tensor<4x16xf32>, %s_gate: tensor<4x8x16xf32>,
                 %s_up: tensor<4x8x16xf32>, %s_down: tensor<4x16x8xf32>,
                 %l_router: tensor<8x16xf32>, %l_gate: tensor<8x32x16xf32>,
                 %l_up: tensor<8x32x16xf32>, %l_down: tensor<8x16x32xf32>)
    -> tensor<3x4x16xf32> {
  %y = moe.composition %selector, %requests models [@small, @large]
      weights(%s_router, %s_gate, %s_up, %s_down,
              %l_router, %l_gate, %l_up, %l_down
              : tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>,
                tensor<4x16x8xf32>, tensor<8x16xf32>, tensor<8x32x16xf32>,
                tensor<8x32x16xf32>, tensor<8x16x32xf32>)
      {weights_tier = #moe.tier<host>}
      : tensor<3x2xf32>, tensor<3x4x16xf32> -> tensor<3x4x16xf32>
  return %y : tensor<3x4x16xf32>
}
