// RUN: not moe-opt %s --moe-fold-parallel="world-size=8 peak-tflops=0" 2>&1 | FileCheck %s --check-prefix=PEAK
// RUN: not moe-opt %s --moe-fold-parallel="world-size=8 link-bandwidth-gbps=-1" 2>&1 | FileCheck %s --check-prefix=LINK
// RUN: not moe-opt %s --moe-fold-parallel="world-size=8 microbatches=0" 2>&1 | FileCheck %s --check-prefix=MICRO
// RUN: not moe-opt %s --moe-fold-parallel="world-size=8 num-layers=-2" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not moe-opt %s --moe-fold-parallel="world-size=8 num-layers=1" 2>&1 | FileCheck %s --check-prefix=LAYERS

// Tests that the machine and model options are checked before planning; each
// message names the option.
// PEAK: error: moe-fold-parallel option peak-tflops must be positive, got 0
// LINK: error: moe-fold-parallel option link-bandwidth-gbps must be positive, got -1
// MICRO: error: moe-fold-parallel option microbatches must be positive, got 0
// NEGATIVE: error: moe-fold-parallel options num-layers, attention-heads and explain-top must not be negative
// LAYERS: error: num-layers (1) is smaller than the 2 moe.layer/moe.chain ops in the module
func.func @f(%x: tensor<16x64xbf16>, %r: tensor<8x64xbf16>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<16x64xbf16> {
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
      activation gelu layout out_in
      : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<16x64xbf16>
  %z = moe.layer %y router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
      activation gelu layout out_in
      : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<16x64xbf16>
  return %z : tensor<16x64xbf16>
}
