// Tests composition of experts through the bundle: the REFERENCE section holds
// the composition with its models' programs nested (float tensor constants as
// arith.constant ops: arrays, splats, and the special elements JSON numbers
// cannot hold), moe-run --check recomputes the compiled composition with them
// and passes, and a model the reference cannot express leaves its composition
// without a reference (a warning naming the model) while it still runs. Models
// that take weights get them from the composition: the reference's models take
// the request and then their weights, the composition's "weights" operand lists
// the value ids in model order and "weights_per_model" splits them.

// RUN: moe-translate --moe-to-bundle %s -o %t.bundle 2>&1 | FileCheck %s --check-prefix=WARN
// RUN: FileCheck %s --input-file=%t.bundle --check-prefix=JSON
// RUN: moe-run %t.bundle --function compose --seed 3 --check | FileCheck %s --check-prefix=CHECKED
// RUN: moe-run %t.bundle --function compose --seed 4 --check | FileCheck %s --check-prefix=CHECKED
// RUN: moe-run %t.bundle --function unchecked --seed 3 | FileCheck %s --check-prefix=UNCHECKED
// RUN: not moe-run %t.bundle --function unchecked --check 2>&1 | FileCheck %s --check-prefix=NOREF
// RUN: moe-run %t.bundle --function compose_weights --seed 5 --check | FileCheck %s --check-prefix=WEIGHTS
// RUN: moe-run %t.bundle --function compose_weights --seed 6 --check | FileCheck %s --check-prefix=WEIGHTS

// WARN: composition-bundle.mlir:[[# @LINE + 100]]:8: warning: no reference program for function 'unchecked': in model 'copy', it contains 'tensor.empty', an op outside the moe dialect and arith.addf; moe-run --check will not be available for it
// WARN-NOT: warning

// The schedule's programs, then the reference programs.
// JSON:      "programs": [
// JSON:      "function": "compose",
// JSON-NEXT:   "ops": [
// JSON-NEXT:    {
// JSON-NEXT:     "attributes": {
// JSON-NEXT:      "models": [
// JSON-NEXT:       {
// JSON-NEXT:        "function": "shift",
// JSON-NEXT:        "ops": [
// JSON-NEXT:         {
// JSON-NEXT:          "attributes": {
// JSON-NEXT:           "value": [
// JSON-NEXT:            1,
// JSON-NEXT:            -2,
// JSON-NEXT:            0.5,
// JSON-NEXT:            4
// JSON-NEXT:           ]
// JSON-NEXT:          },
// JSON-NEXT:          "op": "arith.constant",
// JSON-NEXT:          "operands": {},
// JSON:               "op": "arith.addf",
// JSON:             "returns": [
// JSON-NEXT:         2
// JSON:             "function": "double",
// JSON:          "op": "moe.composition",
// JSON-NEXT:     "operands": {
// JSON-NEXT:      "inputs": 1,
// JSON-NEXT:      "selector": 0
// JSON-NEXT:     },
// JSON-NOT:   "function": "unchecked"
// JSON:       "function": "special_constants",
// JSON:             "function": "special",
// JSON:                "value": [
// JSON-NEXT:            "nan",
// JSON-NEXT:            "inf",
// JSON-NEXT:            "-inf",
// JSON-NEXT:            2.5
// JSON-NEXT:           ]
// JSON:                "value": 0.25
// JSON:       "function": "compose_weights",
// JSON:             "function": "add_two",
// JSON-NEXT:        "ops": [
// JSON:                "operands": {
// JSON-NEXT:            "lhs": 0,
// JSON-NEXT:            "rhs": 1
// JSON:                "operands": {
// JSON-NEXT:            "lhs": 3,
// JSON-NEXT:            "rhs": 2
// JSON:             "function": "double",
// JSON:             "function": "add_one",
// JSON:          "weights_per_model": [
// JSON-NEXT:      2,
// JSON-NEXT:      0,
// JSON-NEXT:      1
// JSON-NEXT:     ]
// JSON:          "op": "moe.composition",
// JSON-NEXT:     "operands": {
// JSON-NEXT:      "inputs": 1,
// JSON-NEXT:      "selector": 0,
// JSON-NEXT:      "weights": [
// JSON-NEXT:       2,
// JSON-NEXT:       3,
// JSON-NEXT:       4
// JSON-NEXT:      ]

// WEIGHTS: function compose_weights on cpu
// WEIGHTS: check    result0 max_abs_err {{.*}} PASS
// WEIGHTS: check    PASS

// CHECKED: function compose on cpu
// CHECKED: check    result0 max_abs_err {{.*}} PASS
// CHECKED: check    PASS

// UNCHECKED: function unchecked on cpu
// UNCHECKED: output   result0 f32 [3, 4]

// NOREF: moe-run: error: --check: the bundle has no reference program for function 'unchecked'

func.func private @shift(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = arith.constant dense<[1.0, -2.0, 0.5, 4.0]> : tensor<4xf32>
  %y = arith.addf %x, %c : tensor<4xf32>
  return %y : tensor<4xf32>
}

func.func private @double(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = arith.addf %x, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

func.func @compose(%selector: tensor<6x2xf32>, %x: tensor<6x4xf32>) -> tensor<6x4xf32> {
  %y = moe.composition %selector, %x models [@shift, @double]
      : tensor<6x2xf32>, tensor<6x4xf32> -> tensor<6x4xf32>
  return %y : tensor<6x4xf32>
}

func.func private @copy(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.copy ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

func.func @unchecked(%selector: tensor<3x2xf32>, %x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %y = moe.composition %selector, %x models [@double, @copy]
      : tensor<3x2xf32>, tensor<3x4xf32> -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

func.func private @special(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = arith.constant dense<[0x7FC00000, 0x7F800000, 0xFF800000, 2.5]> : tensor<4xf32>
  %s = arith.constant dense<0.25> : tensor<4xf32>
  %y = arith.addf %x, %c : tensor<4xf32>
  %z = arith.addf %y, %s : tensor<4xf32>
  return %z : tensor<4xf32>
}

func.func @special_constants(%selector: tensor<2x1xf32>, %x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %y = moe.composition %selector, %x models [@special]
      : tensor<2x1xf32>, tensor<2x4xf32> -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// Models that take weights: @add_two two, @double none, @add_one one.
func.func private @add_two(%x: tensor<4xf32>, %w: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %y = arith.addf %x, %w : tensor<4xf32>
  %z = arith.addf %y, %b : tensor<4xf32>
  return %z : tensor<4xf32>
}

func.func private @add_one(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %y = arith.addf %w, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

func.func @compose_weights(%selector: tensor<6x3xf32>, %x: tensor<6x4xf32>,
                           %w: tensor<4xf32>, %b: tensor<4xf32>, %v: tensor<4xf32>) -> tensor<6x4xf32> {
  %y = moe.composition %selector, %x models [@add_two, @double, @add_one]
      weights(%w, %b, %v : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
      : tensor<6x3xf32>, tensor<6x4xf32> -> tensor<6x4xf32>
  return %y : tensor<6x4xf32>
}
