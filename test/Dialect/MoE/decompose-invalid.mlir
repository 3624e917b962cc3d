// RUN: moe-opt %s --moe-decompose -split-input-file -verify-diagnostics

// Tests that a layer whose expert count is only known at run time is reported,
// not crashed on: dispatch offsets need a static size.
func.func @dynamic_experts(%x: tensor<8x32xf32>, %wr: tensor<32x?xf32>, %u: tensor<?x32x16xf32>, %d: tensor<?x16x32xf32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{moe-decompose cannot expand this layer: the number of routed experts must be static}}
  %y = moe.layer %x router %wr experts up %u down %d
      routing <scoring = softmax, top_k = 2> activation relu layout in_out
      : (tensor<8x32xf32>, tensor<32x?xf32>, tensor<?x32x16xf32>, tensor<?x16x32xf32>) -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}
