// Tests that compositions a bundle cannot serve are located errors: the
// runtime serves a composition by running its models' compiled functions, so
// the composition must be its function's only op and every model needs a
// body; a composition runs on one rank.

// RUN: moe-translate --moe-to-bundle %s -split-input-file -verify-diagnostics -o /dev/null
// RUN: not moe-translate --moe-to-bundle --bundle-shard %S/composition.mlir -o /dev/null 2>&1 | FileCheck %s --check-prefix=SHARD

// SHARD: error: a composition runs on one rank; --bundle-shard cannot split it

func.func private @model(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  return %x : tensor<4x8xf32>
}

func.func @scaled(%sel: tensor<2x1xf32>, %x: tensor<2x4x8xf32>)
    -> tensor<2x4x8xf32> {
  // expected-error @+1 {{a composition in a bundle must be the only op of its function 'scaled' and its result the function's result: the runtime serves it, running the chosen model's compiled function per request}}
  %y = moe.composition %sel, %x models [@model]
      : tensor<2x1xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
  %z = arith.addf %y, %y : tensor<2x4x8xf32>
  return %z : tensor<2x4x8xf32>
}

// -----

func.func private @declared(%x: tensor<4x8xf32>) -> tensor<4x8xf32>

func.func @external(%sel: tensor<2x1xf32>, %x: tensor<2x4x8xf32>)
    -> tensor<2x4x8xf32> {
  // expected-error @+1 {{model @declared of a composition in a bundle must be a func.func with a body}}
  %y = moe.composition %sel, %x models [@declared]
      : tensor<2x1xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}
