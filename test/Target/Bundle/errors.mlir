// Tests that signatures a bundle cannot carry are located errors.

// RUN: moe-translate --moe-to-bundle %s -split-input-file -verify-diagnostics -o /dev/null

// expected-error @+1 {{argument 0 of function 'dynamic' has dynamic dimensions ('tensor<?x4xf32>'); bundles take static shapes only for now}}
func.func @dynamic(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  return %x : tensor<?x4xf32>
}

// -----

// expected-error @+1 {{result 0 of function 'wide' has element type 'f64'; bundles take f32, bf16, f16, i32 and i64}}
func.func @wide(%x: tensor<4xf32>) -> tensor<4xf64> {
  %0 = arith.extf %x : tensor<4xf32> to tensor<4xf64>
  return %0 : tensor<4xf64>
}

// -----

// expected-error @+1 {{argument 1 of function 'scalar' has type 'f32'; bundles take ranked tensors only}}
func.func @scalar(%x: tensor<4xf32>, %s: f32) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{two arguments of function 'twice' are bound to the input name 'w'}}
func.func @twice(%x: tensor<4xf32> {moe.input = "w"}, %y: tensor<4xf32> {moe.input = "w"}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{the module has no public function with a body to put in a bundle}}
func.func private @only_private(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
