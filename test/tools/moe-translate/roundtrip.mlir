// Tests moe-translate's MLIR round-trip target: a stable module is printed back
// (custom form), and a module that does not parse is an error with a location.
// RUN: moe-translate --mlir-roundtrip %s | FileCheck %s
// RUN: not moe-translate --mlir-roundtrip %S/../moe-opt/Inputs/malformed.mlir 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not moe-translate --no-such-translation %s 2>&1 | FileCheck %s --check-prefix=FLAG

// CHECK-LABEL: func.func @router
// CHECK: moe.router %{{.*}} routing <scoring = softmax, top_k = 2> : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
// BAD: malformed.mlir:3:69: error: expected ':'
// FLAG: Unknown command line argument '--no-such-translation'
func.func @router(%logits: tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2>
      : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %w, %i : tensor<4x2xf32>, tensor<4x2xi32>
}
