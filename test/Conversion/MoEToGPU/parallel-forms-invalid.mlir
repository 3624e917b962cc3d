// RUN: moe-opt %s --convert-moe-to-parallel-linalg -split-input-file -verify-diagnostics

// Tests that an op without a GPU lowering is reported, not left behind.
func.func private @coder(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition(%sel: tensor<4x1xf32>, %x: tensor<4x16x64xf32>) -> tensor<4x16x64xf32> {
  // expected-error @+1 {{'moe.composition' has no GPU lowering yet (convert-moe-to-parallel-linalg)}}
  %y = moe.composition %sel, %x models [@coder] : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return %y : tensor<4x16x64xf32>
}
