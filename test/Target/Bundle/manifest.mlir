// Tests that --moe-to-bundle writes the header, a manifest from the public
// functions' signatures (moe.input names, else arg<i>; result<i>), a schedule
// per function and an ELF kernel image, and warns that a function with ops
// outside the moe dialect gets no reference program.

// RUN: moe-translate --moe-to-bundle %s -o %t.bundle 2>&1 | FileCheck %s --check-prefix=WARN
// RUN: FileCheck %s --input-file=%t.bundle

// WARN: manifest.mlir:[[@LINE+7]]:11: warning: no reference program for function 'mm': it contains 'arith.constant', an op outside the moe dialect and arith.addf
// WARN-NOT: warning

// CHECK: MOEBNDL1
// CHECK: cpu-x86_64
func.func @mm(%a: tensor<2x3xf32> {moe.input = "model.a"},
              %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<2x4xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<2x4xf32>) -> tensor<2x4xf32>
  %r = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>)
                     outs(%fill : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}

// Private functions are not part of the bundle.
func.func private @helper(%x: tensor<4xi32>) -> tensor<4xi32> {
  return %x : tensor<4xi32>
}

func.func @pair(%x: tensor<4xi32>, %y: tensor<bf16>) -> (tensor<4xi32>, tensor<bf16>) {
  return %x, %y : tensor<4xi32>, tensor<bf16>
}

// Manifest (keys sorted by the JSON writer).
// CHECK:      "functions": [
// CHECK:        "inputs": [
// CHECK:          "dtype": "f32",
// CHECK-NEXT:     "name": "model.a",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:      2,
// CHECK-NEXT:      3
// CHECK:          "name": "arg1",
// CHECK:        "name": "mm",
// CHECK-NEXT:   "outputs": [
// CHECK:          "name": "result0",
// CHECK:        "symbol": "_mlir_ciface_mm"
// CHECK:          "dtype": "i32",
// CHECK-NEXT:     "name": "arg0",
// CHECK:          "dtype": "bf16",
// CHECK-NEXT:     "name": "arg1",
// CHECK-NEXT:     "shape": []
// CHECK:        "name": "pair",
// CHECK:          "name": "result1",
// CHECK:        "symbol": "_mlir_ciface_pair"
// CHECK:      "target": "cpu-x86_64"

// Schedule: one kernel and one program per function.
// CHECK:      "kernels": [
// CHECK:        "symbol": "_mlir_ciface_mm"
// CHECK:        "symbol": "_mlir_ciface_pair"
// CHECK:      "programs": [
// CHECK:        "commands": [
// CHECK:          "buffer": 0,
// CHECK-NEXT:     "command": "allocate"
// CHECK:          "buffer": 0,
// CHECK-NEXT:     "command": "bind_input",
// CHECK-NEXT:     "input": 0
// CHECK:          "arguments": [
// CHECK-NEXT:      0,
// CHECK-NEXT:      1
// CHECK-NEXT:     ],
// CHECK-NEXT:     "command": "call",
// CHECK-NEXT:     "kernel": 0,
// CHECK-NEXT:     "results": [
// CHECK-NEXT:      2
// CHECK:          "buffer": 2,
// CHECK-NEXT:     "command": "output",
// CHECK-NEXT:     "output": 0
// CHECK:        "function": "mm"
// CHECK:        "function": "pair"

// Reference programs: only @pair (nothing but func.return) has one.
// CHECK:      "programs": [
// CHECK-NOT:    "function": "mm"
// CHECK:        "function": "pair",
// CHECK-NEXT:   "ops": [],
// CHECK-NEXT:   "returns": [
// CHECK-NEXT:    0,
// CHECK-NEXT:    1
// CHECK:      ELF
