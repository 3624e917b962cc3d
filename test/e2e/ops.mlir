// Tests each executable moe op on its own: compiled to a bundle, run on random
// inputs and compared with the C++ reference (moe-run --check; integer outputs
// such as indices, offsets and sources must match exactly).

// RUN: moe-translate --moe-to-bundle %s -o %t.bundle 2>&1 | FileCheck %s --check-prefix=WARN --allow-empty
// RUN: moe-run %t.bundle --function router_softmax --seed 1 --check | FileCheck %s
// RUN: moe-run %t.bundle --function router_deepseek_v3 --seed 2 --check | FileCheck %s
// RUN: moe-run %t.bundle --function router_deepseek_v2 --seed 3 --check | FileCheck %s
// RUN: moe-run %t.bundle --function router_top_p --seed 4 --check | FileCheck %s
// RUN: moe-run %t.bundle --function router_t1_dense_f16 --seed 5 --check | FileCheck %s
// RUN: moe-run %t.bundle --function dispatch_dropless --seed 6 --check | FileCheck %s
// RUN: moe-run %t.bundle --function dispatch_capacity_position --seed 7 --check | FileCheck %s
// RUN: moe-run %t.bundle --function dispatch_capacity_score --seed 8 --check | FileCheck %s
// RUN: moe-run %t.bundle --function experts_in_out_bf16 --seed 9 --check | FileCheck %s
// RUN: moe-run %t.bundle --function combine --seed 10 --check | FileCheck %s
// RUN: moe-run %t.bundle --function null_experts --seed 11 --check | FileCheck %s
// RUN: moe-run %t.bundle --function shared_experts_gated --seed 12 --check | FileCheck %s
// RUN: moe-run %t.bundle --function union_ffn_f16 --seed 13 --check | FileCheck %s

// WARN-NOT: warning
// CHECK: check    PASS

func.func @router_softmax(%logits: tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, renormalize = true>
      : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return %w, %i : tensor<16x2xf32>, tensor<16x2xi32>
}

func.func @router_deepseek_v3(%logits: tensor<16x16xf32>, %bias: tensor<16xf32>) -> (tensor<16x4xf32>, tensor<16x4xi64>) {
  %w, %i = moe.router %logits bias %bias routing <scoring = sigmoid, top_k = 4, renormalize = true, scaling_factor = 2.5, num_groups = 4, kept_groups = 2>
      : tensor<16x16xf32>, tensor<16xf32> -> tensor<16x4xf32>, tensor<16x4xi64>
  return %w, %i : tensor<16x4xf32>, tensor<16x4xi64>
}

func.func @router_deepseek_v2(%logits: tensor<16x16xf32>) -> (tensor<16x3xf32>, tensor<16x3xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 3, scaling_factor = 16.0, num_groups = 4, kept_groups = 2, group_score = max>
      : tensor<16x16xf32> -> tensor<16x3xf32>, tensor<16x3xi32>
  return %w, %i : tensor<16x3xf32>, tensor<16x3xi32>
}

func.func @router_top_p(%logits: tensor<16x10xf32>) -> (tensor<16x4xf32>, tensor<16x4xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 4, renormalize = true, top_p = 0.3, zero_experts = 2>
      : tensor<16x10xf32> -> tensor<16x4xf32>, tensor<16x4xi32>
  return %w, %i : tensor<16x4xf32>, tensor<16x4xi32>
}

func.func @router_t1_dense_f16(%logits: tensor<1x6xf16>) -> (tensor<1x6xf16>, tensor<1x6xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 6>
      : tensor<1x6xf16> -> tensor<1x6xf16>, tensor<1x6xi32>
  return %w, %i : tensor<1x6xf16>, tensor<1x6xi32>
}

// Integer inputs are random in [0, 1]: with 2 experts every slot is routed.
func.func @dispatch_dropless(%x: tensor<8x16xf32>, %idx: tensor<8x3xi32>) -> (tensor<24x16xf32>, tensor<3xi32>, tensor<24xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 2
      : tensor<8x16xf32>, tensor<8x3xi32> -> tensor<24x16xf32>, tensor<3xi32>, tensor<24xi32>
  return %rows, %offsets, %sources : tensor<24x16xf32>, tensor<3xi32>, tensor<24xi32>
}

func.func @dispatch_capacity_position(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>) -> (tensor<6x16xf32>, tensor<3xi32>, tensor<6xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 2 capacity 3 drop position
      : tensor<8x16xf32>, tensor<8x2xi32> -> tensor<6x16xf32>, tensor<3xi32>, tensor<6xi32>
  return %rows, %offsets, %sources : tensor<6x16xf32>, tensor<3xi32>, tensor<6xi32>
}

func.func @dispatch_capacity_score(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>, %w: tensor<8x2xf32>) -> (tensor<6x16xf32>, tensor<3xi32>, tensor<6xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx weights %w experts 2 capacity 3 drop score
      : tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x2xf32> -> tensor<6x16xf32>, tensor<3xi32>, tensor<6xi32>
  return %rows, %offsets, %sources : tensor<6x16xf32>, tensor<3xi32>, tensor<6xi32>
}

// Experts over rows and offsets from a dispatch (indices random in [0, 1], so
// experts 2 and 3 get no rows).
func.func @experts_in_out_bf16(%x: tensor<4x16xbf16>, %idx: tensor<4x2xi32>, %g: tensor<4x16x32xbf16>, %u: tensor<4x16x32xbf16>, %d: tensor<4x32x16xbf16>) -> tensor<8x16xbf16> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 4
      : tensor<4x16xbf16>, tensor<4x2xi32> -> tensor<8x16xbf16>, tensor<5xi32>, tensor<8xi32>
  %y = moe.experts %rows, %offsets gate %g up %u down %d activation gelu_tanh layout in_out
      : (tensor<8x16xbf16>, tensor<5xi32>, tensor<4x16x32xbf16>, tensor<4x16x32xbf16>, tensor<4x32x16xbf16>) -> tensor<8x16xbf16>
  return %y : tensor<8x16xbf16>
}

// Sources are random in [0, 1]: rows land on slots 0 and 1 of token 0.
func.func @combine(%y: tensor<12x16xf32>, %sources: tensor<12xi32>, %w: tensor<6x2xf32>) -> tensor<6x16xf32> {
  %out = moe.combine %y, %sources, %w : tensor<12x16xf32>, tensor<12xi32>, tensor<6x2xf32> -> tensor<6x16xf32>
  return %out : tensor<6x16xf32>
}

// Indices are random in [0, 1]: with first = 0, slots hit the zero expert (0)
// and the copy expert (1).
func.func @null_experts(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>, %w: tensor<8x2xf32>) -> tensor<8x16xf32> {
  %n = moe.null_experts %x, %idx, %w first 0 zero 1 copy 1 constant 0
      : tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x2xf32> -> tensor<8x16xf32>
  return %n : tensor<8x16xf32>
}

func.func @shared_experts_gated(%x: tensor<8x16xf32>, %g: tensor<32x16xf32>, %u: tensor<32x16xf32>, %d: tensor<16x32xf32>, %sg: tensor<16xf32>) -> tensor<8x16xf32> {
  %s = moe.shared_experts %x gate %g up %u down %d sigmoid_gate %sg activation silu layout out_in
      : (tensor<8x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  return %s : tensor<8x16xf32>
}

func.func @union_ffn_f16(%x: tensor<2x8x16xf16>, %r: tensor<16x4xf16>, %rb: tensor<4xf16>, %u: tensor<16x32xf16>, %d: tensor<32x16xf16>) -> tensor<2x8x16xf16> {
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation relu
      : (tensor<2x8x16xf16>, tensor<16x4xf16>, tensor<4xf16>, tensor<16x32xf16>, tensor<32x16xf16>) -> tensor<2x8x16xf16>
  return %y : tensor<2x8x16xf16>
}
