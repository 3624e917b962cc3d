// A 2x3 by 3x4 matmul; inputs bound to "a" and "w.b".
func.func @mm(%a: tensor<2x3xf32> {moe.input = "a"},
              %b: tensor<3x4xf32> {moe.input = "w.b"}) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<2x4xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<2x4xf32>) -> tensor<2x4xf32>
  %r = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>)
                     outs(%fill : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}
