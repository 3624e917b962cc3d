// RUN: moe-opt %s --convert-moe-to-linalg -split-input-file -verify-diagnostics

// Tests that an op without a CPU lowering is reported, not left behind.
func.func @grouped(%rows: tensor<128x64xbf16>, %offsets: tensor<3xi64>, %w: tensor<2x128x64xbf16>, %init: tensor<128x128xbf16>) -> tensor<128x128xbf16> {
  // expected-error @+1 {{'moe.grouped_matmul' has no CPU lowering yet (convert-moe-to-linalg)}}
  %y = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<128x64xbf16>, tensor<3xi64>, tensor<2x128x64xbf16> outs tensor<128x128xbf16> -> tensor<128x128xbf16>
  return %y : tensor<128x128xbf16>
}

// -----

// Tests that a composition whose model is a nested symbol reference (which
// func.call cannot name) is reported.
module {
  module @library {
    func.func @coder(%x: tensor<16x64xf32>) -> tensor<16x64xf32> {
      return %x : tensor<16x64xf32>
    }
  }
  func.func @nested(%sel: tensor<4x1xf32>, %x: tensor<4x16x64xf32>) -> tensor<4x16x64xf32> {
    // expected-error @+1 {{'moe.composition' op model @library::@coder is a nested symbol reference; the CPU lowering calls models with func.call, which needs a flat name}}
    %y = moe.composition %sel, %x models [@library::@coder] : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
    return %y : tensor<4x16x64xf32>
  }
}

// -----

// Tests that a composition whose per-request result sizes are dynamic (the
// result cannot be allocated before the models run) is reported.
func.func private @trim(tensor<16xf32>) -> tensor<?xf32>
func.func @dynamic(%sel: tensor<4x1xf32>, %x: tensor<4x16xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'moe.composition' op result 'tensor<4x?xf32>' has dynamic sizes past the request dimension; the CPU lowering needs static per-request result sizes}}
  %y = moe.composition %sel, %x models [@trim] : tensor<4x1xf32>, tensor<4x16xf32> -> tensor<4x?xf32>
  return %y : tensor<4x?xf32>
}
