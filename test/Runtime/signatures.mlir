// Tests memref descriptors of rank 0, 1 and 3, several results (one of them
// the kernel's own argument, which must not be freed twice), i32 data, and
// choosing among several functions.

// RUN: moe-translate --moe-to-bundle %s -o %t.bundle
// RUN: %python %S/Inputs/make-safetensors.py %t.safetensors x:F32:2,2,2:1,2,3,4,5,6,7,8 s:F32::2.5 n:I32:3:1,-2,3
// RUN: moe-run %t.bundle --function multi --weights %t.safetensors --print-outputs | FileCheck %s
// RUN: moe-run %t.bundle --function negate --weights %t.safetensors --print-outputs | FileCheck %s --check-prefix=NEGATE
// RUN: not moe-run %t.bundle --weights %t.safetensors 2>&1 | FileCheck %s --check-prefix=CHOOSE

// CHECK:      function multi on cpu
// CHECK:      output   result0 f32 [2, 2, 2]  min 2 max 16 mean 9 l2 28.5657
// CHECK-NEXT: values   result0 = 2 4 6 8 10 12 14 16
// CHECK-NEXT: output   result1 f32 []  min 2.5 max 2.5 mean 2.5 l2 2.5
// CHECK-NEXT: values   result1 = 2.5
// CHECK-NEXT: output   result2 i32 [3]  min 1 max 9 mean 4.66667 l2 9.89949
// CHECK-NEXT: values   result2 = 1 4 9
// CHECK-NEXT: output   result3 f32 [2, 2, 2]  min 1 max 8 mean 4.5 l2 14.2829
// CHECK-NEXT: values   result3 = 1 2 3 4 5 6 7 8
func.func @multi(%x: tensor<2x2x2xf32> {moe.input = "x"},
                 %s: tensor<f32> {moe.input = "s"},
                 %n: tensor<3xi32> {moe.input = "n"})
    -> (tensor<2x2x2xf32>, tensor<f32>, tensor<3xi32>, tensor<2x2x2xf32>) {
  %e = tensor.empty() : tensor<2x2x2xf32>
  %d = linalg.add ins(%x, %x : tensor<2x2x2xf32>, tensor<2x2x2xf32>)
                  outs(%e : tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
  %ei = tensor.empty() : tensor<3xi32>
  %m = linalg.mul ins(%n, %n : tensor<3xi32>, tensor<3xi32>)
                  outs(%ei : tensor<3xi32>) -> tensor<3xi32>
  return %d, %s, %m, %x : tensor<2x2x2xf32>, tensor<f32>, tensor<3xi32>, tensor<2x2x2xf32>
}

// NEGATE:      function negate on cpu
// NEGATE:      values   result0 = -1 2 -3
func.func @negate(%n: tensor<3xi32> {moe.input = "n"}) -> tensor<3xi32> {
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<3xi32>
  %z = linalg.fill ins(%zero : i32) outs(%e : tensor<3xi32>) -> tensor<3xi32>
  %r = linalg.sub ins(%z, %n : tensor<3xi32>, tensor<3xi32>)
                  outs(%e : tensor<3xi32>) -> tensor<3xi32>
  return %r : tensor<3xi32>
}

// CHOOSE: moe-run: error: the bundle has 2 functions (multi, negate); choose one with --function
