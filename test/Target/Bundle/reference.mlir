// Tests the REFERENCE section: each function's moe ops with operands by ODS
// name (absent optional operands left out), results as value ids after the
// arguments, and attributes as plain JSON (every routing field explicit,
// top_p / capacity / drop_policy only when present); and that moe-run --check
// recomputes the function with it and passes.

// RUN: moe-translate --moe-to-bundle %s -o %t.bundle 2>&1 | FileCheck %s --check-prefix=WARN --allow-empty
// RUN: FileCheck %s --input-file=%t.bundle
// RUN: moe-run %t.bundle --function layer --check --seed 7 | FileCheck %s --check-prefix=RUN-LAYER
// RUN: moe-run %t.bundle --function route --check | FileCheck %s --check-prefix=RUN-ROUTE

// WARN-NOT: warning

// RUN-LAYER: function layer on cpu
// RUN-LAYER: input    tokens f32 [4, 8]  (random in [-1, 1])
// RUN-LAYER: input    router f32 [4, 8]  (random in [-0.353553, 0.353553])
// RUN-LAYER: output   result0 f32 [4, 8]
// RUN-LAYER: check    result0 max_abs_err {{.*}} PASS
// RUN-LAYER: check    PASS

// RUN-ROUTE: check    result0 {{.*}} PASS
// RUN-ROUTE: check    result1 {{.*}} PASS
// RUN-ROUTE: check    PASS

func.func @layer(%x: tensor<4x8xf32> {moe.input = "tokens"},
                 %router: tensor<4x8xf32> {moe.input = "router"},
                 %gate: tensor<4x16x8xf32>, %up: tensor<4x16x8xf32>,
                 %down: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in capacity 3 drop position
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

func.func @route(%logits: tensor<3x5xf32>) -> (tensor<3x2xf32>, tensor<3x2xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, top_p = 0.5, zero_experts = 1>
      : tensor<3x5xf32> -> tensor<3x2xf32>, tensor<3x2xi32>
  return %w, %i : tensor<3x2xf32>, tensor<3x2xi32>
}

// The schedule's programs, then the reference programs.
// CHECK:      "programs": [
// CHECK:      "programs": [
// CHECK-NEXT:  {
// CHECK-NEXT:   "function": "layer",
// CHECK-NEXT:   "ops": [
// CHECK-NEXT:    {
// CHECK-NEXT:     "attributes": {
// CHECK-NEXT:      "activation": "silu",
// CHECK-NEXT:      "capacity": 3,
// CHECK-NEXT:      "drop_policy": "position",
// CHECK-NEXT:      "layout": "out_in",
// CHECK-NEXT:      "routing": {
// CHECK-NEXT:       "constant_experts": 0,
// CHECK-NEXT:       "copy_experts": 0,
// CHECK-NEXT:       "group_score": "top2_sum",
// CHECK-NEXT:       "kept_groups": 1,
// CHECK-NEXT:       "num_groups": 1,
// CHECK-NEXT:       "renormalize": true,
// CHECK-NEXT:       "scaling_factor": 1,
// CHECK-NEXT:       "scoring": "softmax",
// CHECK-NEXT:       "top_k": 2,
// CHECK-NEXT:       "zero_experts": 0
// CHECK-NEXT:      }
// CHECK-NEXT:     },
// CHECK-NEXT:     "op": "moe.layer",
// CHECK-NEXT:     "operands": {
// CHECK-NEXT:      "down_weight": 4,
// CHECK-NEXT:      "gate_weight": 2,
// CHECK-NEXT:      "router_weight": 1,
// CHECK-NEXT:      "tokens": 0,
// CHECK-NEXT:      "up_weight": 3
// CHECK-NEXT:     },
// CHECK-NEXT:     "results": [
// CHECK-NEXT:      5
// CHECK-NEXT:     ]
// CHECK-NEXT:    }
// CHECK-NEXT:   ],
// CHECK-NEXT:   "returns": [
// CHECK-NEXT:    5
// CHECK-NEXT:   ],
// CHECK-NEXT:   "values": [
// CHECK-NEXT:    {
// CHECK-NEXT:     "dtype": "f32",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:      4,
// CHECK-NEXT:      8

// CHECK:        "function": "route",
// CHECK:          "top_k": 2,
// CHECK-NEXT:       "top_p": 0.5,
// CHECK-NEXT:       "zero_experts": 1
// CHECK:          "op": "moe.router",
// CHECK-NEXT:     "operands": {
// CHECK-NEXT:      "logits": 0
// CHECK-NEXT:     },
// CHECK-NEXT:     "results": [
// CHECK-NEXT:      1,
// CHECK-NEXT:      2
// CHECK:          "dtype": "i32",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:      3,
// CHECK-NEXT:      2
