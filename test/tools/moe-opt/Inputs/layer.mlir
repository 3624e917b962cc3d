func.func @layer(%x: tensor<4x16xf32>, %wr: tensor<16x4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x16xf32> {
  %y = moe.layer %x router %wr experts up %u down %d
      routing <scoring = softmax, top_k = 2> activation relu layout in_out
      : (tensor<4x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}
