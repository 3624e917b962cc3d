// Round trip of every moe op: print -> parse -> print is stable, in the custom
// and in the generic form, and through moe-translate's round-trip check.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s
// RUN: moe-translate --mlir-roundtrip %s | FileCheck %s

// Tests that a Mixtral-style router (softmax, top-2, renormalised) round-trips.
// CHECK-LABEL: func.func @router_softmax
// CHECK: %{{.*}}, %{{.*}} = moe.router %{{.*}} routing <scoring = softmax, top_k = 2, renormalize = true> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
func.func @router_softmax(%logits: tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, renormalize = true>
      : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return %w, %i : tensor<16x2xf32>, tensor<16x2xi32>
}

// Tests that a DeepSeek-V3 router (sigmoid, bias, groups, scaling) round-trips.
// CHECK-LABEL: func.func @router_deepseek_v3
// CHECK: moe.router %{{.*}} bias %{{.*}} routing <scoring = sigmoid, top_k = 8, renormalize = true, scaling_factor = 2.500000e+00 : f64, num_groups = 8, kept_groups = 4>
// CHECK-SAME: : tensor<4x256xbf16>, tensor<256xf32> -> tensor<4x8xf32>, tensor<4x8xi64>
func.func @router_deepseek_v3(%logits: tensor<4x256xbf16>, %bias: tensor<256xf32>) -> (tensor<4x8xf32>, tensor<4x8xi64>) {
  %w, %i = moe.router %logits bias %bias routing <scoring = sigmoid, top_k = 8, renormalize = true, scaling_factor = 2.5, num_groups = 8, kept_groups = 4>
      : tensor<4x256xbf16>, tensor<256xf32> -> tensor<4x8xf32>, tensor<4x8xi64>
  return %w, %i : tensor<4x8xf32>, tensor<4x8xi64>
}

// Tests that DeepSeek-V2 group scoring by max round-trips.
// CHECK-LABEL: func.func @router_group_max
// CHECK: routing <scoring = softmax, top_k = 6, scaling_factor = 1.600000e+01 : f64, num_groups = 8, kept_groups = 3, group_score = max>
func.func @router_group_max(%logits: tensor<4x160xf32>) -> (tensor<4x6xf32>, tensor<4x6xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 6, scaling_factor = 16.0, num_groups = 8, kept_groups = 3, group_score = max>
      : tensor<4x160xf32> -> tensor<4x6xf32>, tensor<4x6xi32>
  return %w, %i : tensor<4x6xf32>, tensor<4x6xi32>
}

// Tests top-p routing with null experts and a dynamic token count.
// CHECK-LABEL: func.func @router_top_p_null
// CHECK: routing <scoring = softmax, top_k = 4, top_p = 6.000000e-01 : f64, zero_experts = 1, copy_experts = 1, constant_experts = 2> : tensor<?x12xf16> -> tensor<?x4xf16>, tensor<?x4xi32>
func.func @router_top_p_null(%logits: tensor<?x12xf16>) -> (tensor<?x4xf16>, tensor<?x4xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 4, top_p = 0.6, zero_experts = 1, copy_experts = 1, constant_experts = 2>
      : tensor<?x12xf16> -> tensor<?x4xf16>, tensor<?x4xi32>
  return %w, %i : tensor<?x4xf16>, tensor<?x4xi32>
}

// Tests dropless dispatch.
// CHECK-LABEL: func.func @dispatch_dropless
// CHECK: %[[ROWS:.*]], %[[OFFSETS:.*]], %[[SOURCES:.*]] = moe.dispatch %{{.*}}, %{{.*}} experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
func.func @dispatch_dropless(%x: tensor<16x64xf32>, %idx: tensor<16x2xi32>) -> (tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 8
      : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return %rows, %offsets, %sources : tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
}

// Tests capacity-mode dispatch with the position drop policy (R = min(T*K, E*C)).
// CHECK-LABEL: func.func @dispatch_capacity_position
// CHECK: moe.dispatch %{{.*}}, %{{.*}} experts 8 capacity 3 drop position : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<24x64xf32>, tensor<9xi32>, tensor<24xi32>
func.func @dispatch_capacity_position(%x: tensor<16x64xf32>, %idx: tensor<16x2xi32>) -> tensor<24x64xf32> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 8 capacity 3 drop position
      : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<24x64xf32>, tensor<9xi32>, tensor<24xi32>
  return %rows : tensor<24x64xf32>
}

// Tests capacity-mode dispatch that keeps the rows of largest routing weight.
// CHECK-LABEL: func.func @dispatch_capacity_score
// CHECK: moe.dispatch %{{.*}}, %{{.*}} weights %{{.*}} experts 4 capacity 2 drop score : tensor<?x32xbf16>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xbf16>, tensor<5xi32>, tensor<?xi32>
func.func @dispatch_capacity_score(%x: tensor<?x32xbf16>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x32xbf16> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx weights %w experts 4 capacity 2 drop score
      : tensor<?x32xbf16>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xbf16>, tensor<5xi32>, tensor<?xi32>
  return %rows : tensor<?x32xbf16>
}

// Tests gated (SwiGLU) experts in the in_out layout.
// CHECK-LABEL: func.func @experts_gated_in_out
// CHECK: moe.experts %{{.*}}, %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} activation silu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
func.func @experts_gated_in_out(%rows: tensor<32x64xf32>, %offsets: tensor<9xi32>, %g: tensor<8x64x128xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) -> tensor<32x64xf32> {
  %y = moe.experts %rows, %offsets gate %g up %u down %d activation silu layout in_out
      : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return %y : tensor<32x64xf32>
}

// Tests plain (GELU, no gate) experts in the Hugging Face out_in layout.
// CHECK-LABEL: func.func @experts_plain_out_in
// CHECK: moe.experts %{{.*}}, %{{.*}} up %{{.*}} down %{{.*}} activation gelu layout out_in : (tensor<32x64xbf16>, tensor<9xi32>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<32x64xbf16>
func.func @experts_plain_out_in(%rows: tensor<32x64xbf16>, %offsets: tensor<9xi32>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<32x64xbf16> {
  %y = moe.experts %rows, %offsets up %u down %d activation gelu layout out_in
      : (tensor<32x64xbf16>, tensor<9xi32>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<32x64xbf16>
  return %y : tensor<32x64xbf16>
}

// Tests combine.
// CHECK-LABEL: func.func @combine
// CHECK: moe.combine %{{.*}}, %{{.*}}, %{{.*}} : tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
func.func @combine(%y: tensor<32x64xf32>, %sources: tensor<32xi32>, %w: tensor<16x2xf32>) -> tensor<16x64xf32> {
  %out = moe.combine %y, %sources, %w
      : tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
  return %out : tensor<16x64xf32>
}

// Tests null experts with constant experts.
// CHECK-LABEL: func.func @null_experts
// CHECK: moe.null_experts %{{.*}}, %{{.*}}, %{{.*}} constants(%{{.*}}, %{{.*}}) first 8 zero 1 copy 1 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf32>, tensor<2x2x64xf32> -> tensor<16x64xf32>
func.func @null_experts(%x: tensor<16x64xf32>, %idx: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x64xf32>, %mix: tensor<2x2x64xf32>) -> tensor<16x64xf32> {
  %n = moe.null_experts %x, %idx, %w constants(%v, %mix) first 8 zero 1 copy 1 constant 2
      : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf32>, tensor<2x2x64xf32> -> tensor<16x64xf32>
  return %n : tensor<16x64xf32>
}

// Tests a Qwen2-MoE shared expert with its sigmoid gate.
// CHECK-LABEL: func.func @shared_experts
// CHECK: moe.shared_experts %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} sigmoid_gate %{{.*}} activation silu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<64x256xf32>, tensor<256x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
func.func @shared_experts(%x: tensor<16x64xf32>, %g: tensor<64x256xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>, %sg: tensor<64xf32>) -> tensor<16x64xf32> {
  %s = moe.shared_experts %x gate %g up %u down %d sigmoid_gate %sg activation silu layout in_out
      : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<64x256xf32>, tensor<256x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  return %s : tensor<16x64xf32>
}

// Tests an ungated shared expert in out_in layout.
// CHECK-LABEL: func.func @shared_experts_plain
// CHECK: moe.shared_experts %{{.*}} up %{{.*}} down %{{.*}} activation relu layout out_in
func.func @shared_experts_plain(%x: tensor<16x64xf32>, %u: tensor<256x64xf32>, %d: tensor<64x256xf32>) -> tensor<16x64xf32> {
  %s = moe.shared_experts %x up %u down %d activation relu layout out_in
      : (tensor<16x64xf32>, tensor<256x64xf32>, tensor<64x256xf32>) -> tensor<16x64xf32>
  return %s : tensor<16x64xf32>
}

// Tests a whole Mixtral-style layer with a parallel plan and weights tier.
// CHECK-LABEL: func.func @layer_mixtral
// CHECK: moe.layer %{{.*}} router %{{.*}} experts gate %{{.*}} up %{{.*}} down %{{.*}} routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
// CHECK-SAME: parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 8, edp = 1}>
// CHECK-SAME: weights_tier = #moe.tier<hbm>
func.func @layer_mixtral(%x: tensor<16x64xbf16>, %wr: tensor<8x64xbf16>, %g: tensor<8x128x64xbf16>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<16x64xbf16> {
  %y = moe.layer %x router %wr experts gate %g up %u down %d
      routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
      {parallel = #moe.parallel<attn = {tp = 2, dp = 4}, moe = {ep = 8}>, weights_tier = #moe.tier<hbm>}
      : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<16x64xbf16>
  return %y : tensor<16x64xbf16>
}

// Tests a DeepSeek-V3-style layer: bias, groups, shared experts, capacity mode.
// CHECK-LABEL: func.func @layer_deepseek_v3
// CHECK: moe.layer %{{.*}} router %{{.*}} bias %{{.*}} experts gate %{{.*}} up %{{.*}} down %{{.*}} shared_gate %{{.*}} shared_up %{{.*}} shared_down %{{.*}} routing <scoring = sigmoid, top_k = 4, renormalize = true, scaling_factor = 2.500000e+00 : f64, num_groups = 4, kept_groups = 2> activation silu layout in_out capacity 8 drop score
func.func @layer_deepseek_v3(%x: tensor<16x64xf32>, %wr: tensor<64x16xf32>, %b: tensor<16xf32>,
    %g: tensor<16x64x32xf32>, %u: tensor<16x64x32xf32>, %d: tensor<16x32x64xf32>,
    %sg: tensor<64x64xf32>, %su: tensor<64x64xf32>, %sd: tensor<64x64xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x router %wr bias %b experts gate %g up %u down %d
      shared_gate %sg shared_up %su shared_down %sd
      routing <scoring = sigmoid, top_k = 4, renormalize = true, scaling_factor = 2.5, num_groups = 4, kept_groups = 2>
      activation silu layout in_out capacity 8 drop score
      : (tensor<16x64xf32>, tensor<64x16xf32>, tensor<16xf32>, tensor<16x64x32xf32>, tensor<16x64x32xf32>, tensor<16x32x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// Tests a layer with null experts (MoE++): 6 routed + zero, copy, 2 constant.
// CHECK-LABEL: func.func @layer_null_experts
// CHECK: moe.layer %{{.*}} router %{{.*}} experts up %{{.*}} down %{{.*}} constants(%{{.*}}, %{{.*}}) routing <scoring = softmax, top_k = 2, zero_experts = 1, copy_experts = 1, constant_experts = 2> activation gelu layout in_out
func.func @layer_null_experts(%x: tensor<16x64xf32>, %wr: tensor<64x10xf32>, %u: tensor<6x64x32xf32>, %d: tensor<6x32x64xf32>,
    %v: tensor<2x64xf32>, %mix: tensor<2x2x64xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x router %wr experts up %u down %d constants(%v, %mix)
      routing <scoring = softmax, top_k = 2, zero_experts = 1, copy_experts = 1, constant_experts = 2>
      activation gelu layout in_out
      : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<6x64x32xf32>, tensor<6x32x64xf32>, tensor<2x64xf32>, tensor<2x2x64xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// Tests a chain-of-experts block with two iterations and per-iteration bias.
// CHECK-LABEL: func.func @chain
// CHECK: moe.chain %{{.*}} iterations 2 router %{{.*}} bias %{{.*}} experts gate %{{.*}} up %{{.*}} down %{{.*}} routing <scoring = softmax, top_k = 2> activation silu layout in_out
func.func @chain(%x: tensor<16x64xf32>, %wr: tensor<2x64x8xf32>, %b: tensor<2x8xf32>, %g: tensor<8x64x32xf32>, %u: tensor<8x64x32xf32>, %d: tensor<8x32x64xf32>) -> tensor<16x64xf32> {
  %y = moe.chain %x iterations 2 router %wr bias %b experts gate %g up %u down %d
      routing <scoring = softmax, top_k = 2> activation silu layout in_out
      : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<2x8xf32>, tensor<8x64x32xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// Tests union-of-experts selective multi-head attention.
// CHECK-LABEL: func.func @union_attention
// CHECK: moe.union_attention %{{.*}} gate %{{.*}}, %{{.*}} qkv %{{.*}}, %{{.*}}, %{{.*}} output %{{.*}} top_k 2 capacity 4 {rope_theta = 5.000000e+05 : f64}
func.func @union_attention(%x: tensor<2x8x64xf32>, %wg: tensor<64x4xf32>, %bg: tensor<4xf32>,
    %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) -> tensor<2x8x64xf32> {
  %y = moe.union_attention %x gate %wg, %bg qkv %q, %k, %v output %o top_k 2 capacity 4 {rope_theta = 500000.0 : f64}
      : (tensor<2x8x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x8x64xf32>
  return %y : tensor<2x8x64xf32>
}

// Tests the union-of-experts FFN (UoME) with the default capacity.
// CHECK-LABEL: func.func @union_ffn
// CHECK: moe.union_ffn %{{.*}} router %{{.*}}, %{{.*}} ffn gate %{{.*}} up %{{.*}} down %{{.*}} experts 4 activation silu
func.func @union_ffn(%x: tensor<2x8x64xf32>, %wr: tensor<64x4xf32>, %br: tensor<4xf32>,
    %g: tensor<64x128xf32>, %u: tensor<64x128xf32>, %d: tensor<128x64xf32>) -> tensor<2x8x64xf32> {
  %y = moe.union_ffn %x router %wr, %br ffn gate %g up %u down %d experts 4 activation silu
      : (tensor<2x8x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x128xf32>, tensor<64x128xf32>, tensor<128x64xf32>) -> tensor<2x8x64xf32>
  return %y : tensor<2x8x64xf32>
}

// Tests the union-of-experts FFN with an explicit capacity and no gate.
// CHECK-LABEL: func.func @union_ffn_capacity
// CHECK: moe.union_ffn %{{.*}} router %{{.*}}, %{{.*}} ffn up %{{.*}} down %{{.*}} experts 2 capacity 3 activation relu
func.func @union_ffn_capacity(%x: tensor<1x8x64xf32>, %wr: tensor<64x2xf32>, %br: tensor<2xf32>,
    %u: tensor<64x128xf32>, %d: tensor<128x64xf32>) -> tensor<1x8x64xf32> {
  %y = moe.union_ffn %x router %wr, %br ffn up %u down %d experts 2 capacity 3 activation relu
      : (tensor<1x8x64xf32>, tensor<64x2xf32>, tensor<2xf32>, tensor<64x128xf32>, tensor<128x64xf32>) -> tensor<1x8x64xf32>
  return %y : tensor<1x8x64xf32>
}

// Tests composition of experts over two whole models kept in host memory.
// CHECK-LABEL: func.func @composition
// CHECK: moe.composition %{{.*}}, %{{.*}} models [@coder, @chat] {weights_tier = #moe.tier<host>} : tensor<4x2xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
func.func private @coder(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func private @chat(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition(%sel: tensor<4x2xf32>, %x: tensor<4x16x64xf32>) -> tensor<4x16x64xf32> {
  %y = moe.composition %sel, %x models [@coder, @chat] {weights_tier = #moe.tier<host>}
      : tensor<4x2xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return %y : tensor<4x16x64xf32>
}

// Tests composition of models that take their weights as arguments: the
// weights group lists model 0's weights, then model 1's (none), then model
// 2's, and prints back as parsed, before the attributes.
// CHECK-LABEL: func.func @composition_weights
// CHECK-SAME: (%[[SEL:.*]]: tensor<4x3xf32>, %[[X:.*]]: tensor<4x16x64xf32>, %[[W0:.*]]: tensor<8x64xf32>, %[[W1:.*]]: tensor<8x64xbf16>, %[[W2:.*]]: tensor<64x64xf32>)
// CHECK: moe.composition %[[SEL]], %[[X]] models [@coder_weighted, @chat, @math_weighted] weights(%[[W0]], %[[W1]], %[[W2]] : tensor<8x64xf32>, tensor<8x64xbf16>, tensor<64x64xf32>) {weights_tier = #moe.tier<host>} : tensor<4x3xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
// CHECK: moe.composition %[[SEL]], %[[X]] models [@chat, @chat, @math_weighted] weights(%[[W2]] : tensor<64x64xf32>) : tensor<4x3xf32>
func.func private @coder_weighted(tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x64xbf16>) -> tensor<16x64xf32>
func.func private @math_weighted(tensor<16x64xf32>, tensor<64x64xf32>) -> tensor<16x64xf32>
func.func @composition_weights(%sel: tensor<4x3xf32>, %x: tensor<4x16x64xf32>, %w0: tensor<8x64xf32>, %w1: tensor<8x64xbf16>, %w2: tensor<64x64xf32>) -> tensor<4x16x64xf32> {
  %y = moe.composition %sel, %x models [@coder_weighted, @chat, @math_weighted]
      weights(%w0, %w1, %w2 : tensor<8x64xf32>, tensor<8x64xbf16>, tensor<64x64xf32>)
      {weights_tier = #moe.tier<host>}
      : tensor<4x3xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  %z = moe.composition %sel, %x models [@chat, @chat, @math_weighted] weights(%w2 : tensor<64x64xf32>)
      : tensor<4x3xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return %y : tensor<4x16x64xf32>
}

// Tests that arguments name the checkpoint tensors they are bound to.
// CHECK-LABEL: func.func @named_inputs
// CHECK-SAME: {moe.input = "model.layers.0.block_sparse_moe.experts.{expert}.w1.weight"}
func.func @named_inputs(%w1: tensor<8x128x64xf32> {moe.input = "model.layers.0.block_sparse_moe.experts.{expert}.w1.weight"}) -> tensor<8x128x64xf32> {
  return %w1 : tensor<8x128x64xf32>
}
