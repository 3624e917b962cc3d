// Tests that residual sums (arith.addf on tensors) between blocks are part of
// the reference program, and that moe-run --check recomputes them.

// RUN: moe-translate --moe-to-bundle %s -o %t.bundle 2>&1 | FileCheck %s --check-prefix=WARN --allow-empty
// RUN: FileCheck %s --input-file=%t.bundle
// RUN: moe-run %t.bundle --check --seed 3 | FileCheck %s --check-prefix=CHECKED

// WARN-NOT: warning
// CHECK: "op": "moe.layer"
// CHECK: "op": "arith.addf"
// CHECK-NEXT: "operands": {
// CHECK-NEXT: "lhs": 0,
// CHECK-NEXT: "rhs": 4
// CHECKED: check    PASS

func.func @block(%x: tensor<4x8xf32>, %router: tensor<8x4xf32>,
                 %up: tensor<4x8x16xf32>, %down: tensor<4x16x8xf32>) -> tensor<4x8xf32> {
  %y = moe.layer %x router %router experts up %up down %down
      routing <scoring = softmax, top_k = 2> activation gelu layout in_out
      : (tensor<4x8xf32>, tensor<8x4xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<4x8xf32>
  %h = arith.addf %x, %y : tensor<4x8xf32>
  return %h : tensor<4x8xf32>
}
