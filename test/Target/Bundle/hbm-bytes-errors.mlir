// Tests that a negative --bundle-hbm-bytes is a located error.

// RUN: moe-translate --moe-to-bundle --bundle-hbm-bytes=-1 %s -verify-diagnostics -o /dev/null

// expected-error @+1 {{--bundle-hbm-bytes must not be negative, got -1}}
func.func @layer(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  return %x : tensor<8x16xf32>
}
