// RUN: moe-opt %s -verify-diagnostics --moe-fold-parallel
// RUN: moe-opt %s -verify-diagnostics --moe-fold-parallel="world-size=0"

// Tests that world-size is required and at least 1.
// expected-error @+1 {{moe-fold-parallel needs world-size=N with N >= 1, got 0}}
module {
  func.func @f(%x: tensor<16x64xbf16>, %r: tensor<8x64xbf16>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<16x64xbf16> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<16x64xbf16>
    return %y : tensor<16x64xbf16>
  }
}
