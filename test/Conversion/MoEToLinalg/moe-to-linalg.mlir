// RUN: moe-opt %s --convert-moe-to-linalg --canonicalize -split-input-file | FileCheck %s
// Numerics of these lowerings: test/e2e/ (compiled and run against a plain
// Python reference).

// Tests the softmax router: row max, exp-sum, scores, top-k by arg-max over
// untaken experts, renormalisation.
// CHECK-LABEL: func.func @router_softmax
// CHECK-NOT: moe.router
// CHECK: scf.for %[[T:.*]] = %c0 to %c4
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: scf.for {{.*}} -> (tensor<2xf32>, tensor<4x2xi32>, tensor<8xi1>, f32)
// CHECK: arith.cmpf ogt
// CHECK: arith.select
// CHECK: tensor.insert %{{.*}} into %{{.*}}[%[[T]], %{{.*}}] : tensor<4x2xi32>
// CHECK: tensor.insert %{{.*}} into %{{.*}}[%[[T]], %{{.*}}] : tensor<4x2xf32>
func.func @router_softmax(%logits: tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, renormalize = true> : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %w, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

// Tests the DeepSeek-V3 router: sigmoid scores, biased selection, group scores
// (sum of the top two), kept groups, -inf for experts of dropped groups, scale.
// CHECK-LABEL: func.func @router_deepseek_v3
// CHECK-SAME: %[[BIAS:[^:]*]]: tensor<8xbf16>
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 2.500000e+00 : f32
// CHECK: arith.negf
// CHECK: math.exp
// CHECK: tensor.extract %[[BIAS]]
// CHECK: arith.extf
// CHECK: scf.for {{.*}} -> (f32, f32)
// CHECK: arith.addf
// CHECK: arith.select %{{.*}}, %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.divf %[[SCALE]]
func.func @router_deepseek_v3(%logits: tensor<4x8xf32>, %bias: tensor<8xbf16>) -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %w, %i = moe.router %logits bias %bias routing <scoring = sigmoid, top_k = 2, renormalize = true, scaling_factor = 2.5, num_groups = 4, kept_groups = 2> : tensor<4x8xf32>, tensor<8xbf16> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %w, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

// Tests top-p: slot 0 always, later slots while the kept sum is below p, unused
// slots point at the first zero expert (index 6 of 8 columns with 2 nulls).
// CHECK-LABEL: func.func @router_top_p
// CHECK-DAG: %[[P:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[ZERO_EXPERT:.*]] = arith.constant 6 : index
// CHECK: arith.cmpf olt, %{{.*}}, %[[P]]
// CHECK: arith.select %{{.*}}, %{{.*}}, %[[ZERO_EXPERT]] : index
func.func @router_top_p(%logits: tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 3, top_p = 0.5, zero_experts = 2> : tensor<4x8xf32> -> tensor<4x3xf32>, tensor<4x3xi32>
  return %w, %i : tensor<4x3xf32>, tensor<4x3xi32>
}

// -----

// Tests dropless dispatch: counts, offsets by prefix sum, rows copied in
// (token, slot) order with their sources.
// CHECK-LABEL: func.func @dispatch_dropless
// CHECK-NOT: moe.dispatch
// CHECK: %[[COUNTS:.*]] = scf.for {{.*}} -> (tensor<4xindex>)
// CHECK: %[[OFFSETS:.*]]:3 = scf.for {{.*}} -> (tensor<5xi32>, index, tensor<4xindex>)
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, 0] [1, 16] [1, 1] : tensor<8x16xf32> to tensor<16xf32>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[%{{.*}}, 0] [1, 16] [1, 1] : tensor<16xf32> into tensor<16x16xf32>
// CHECK: return %{{.*}}, %[[OFFSETS]]#0, %{{.*}} : tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>
func.func @dispatch_dropless(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>) -> (tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 4 : tensor<8x16xf32>, tensor<8x2xi32> -> tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>
  return %rows, %offsets, %sources : tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>
}

// -----

// Tests capacity dispatch: kept counts are capped, and with the score policy a
// slot's rank among its expert's slots decides whether it is kept.
// CHECK-LABEL: func.func @dispatch_capacity_score
// CHECK-DAG: %[[CAPACITY:.*]] = arith.constant 3 : index
// CHECK: arith.minui %{{.*}}, %[[CAPACITY]] : index
// CHECK: arith.cmpf oeq
// CHECK: arith.cmpi ult, %{{.*}}, %[[CAPACITY]] : index
func.func @dispatch_capacity_score(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>, %w: tensor<8x2xf32>) -> tensor<12x16xf32> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx weights %w experts 4 capacity 3 drop score : tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x2xf32> -> tensor<12x16xf32>, tensor<5xi32>, tensor<12xi32>
  return %rows : tensor<12x16xf32>
}

// -----

// Tests grouped experts: a loop over experts, the dynamic slice of each
// expert's rows, f32-accumulated GEMMs (transposed for out_in), SwiGLU.
// CHECK-LABEL: func.func @experts_out_in
// CHECK: scf.for %[[E:.*]] = %c0 to %c4 {{.*}} -> (tensor<16x16xbf16>)
// CHECK: scf.if
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %{{.*}}[%{{.*}}, 0] [%{{.*}}, 16] [1, 1] : tensor<16x16xbf16> to tensor<?x16xbf16>
// CHECK: tensor.extract_slice %{{.*}}[%[[E]], 0, 0] [1, 32, 16] [1, 1, 1] : tensor<4x32x16xbf16> to tensor<32x16xbf16>
// CHECK: linalg.matmul indexing_maps = {{.*}} ins(%[[ROWS]], %{{.*}} : tensor<?x16xbf16>, tensor<32x16xbf16>) outs(%{{.*}} : tensor<?x32xf32>)
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: arith.truncf
// CHECK: tensor.insert_slice
func.func @experts_out_in(%rows: tensor<16x16xbf16>, %offsets: tensor<5xi32>, %g: tensor<4x32x16xbf16>, %u: tensor<4x32x16xbf16>, %d: tensor<4x16x32xbf16>) -> tensor<16x16xbf16> {
  %y = moe.experts %rows, %offsets gate %g up %u down %d activation silu layout out_in : (tensor<16x16xbf16>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<16x16xbf16>
  return %y : tensor<16x16xbf16>
}

// -----

// Tests combine: rows with a source scatter-add weight * row into token t.
// CHECK-LABEL: func.func @combine
// CHECK: scf.for {{.*}} -> (tensor<8x16xf32>)
// CHECK: arith.cmpi sge
// CHECK: arith.divui
// CHECK: arith.remui
// CHECK: linalg.generic
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @combine(%y: tensor<16x16xf32>, %sources: tensor<16xi32>, %w: tensor<8x2xf32>) -> tensor<8x16xf32> {
  %out = moe.combine %y, %sources, %w : tensor<16x16xf32>, tensor<16xi32>, tensor<8x2xf32> -> tensor<8x16xf32>
  return %out : tensor<8x16xf32>
}

// -----

// Tests null experts: copy slots add w * x, constant slots w * (α1 x + α2 v).
// CHECK-LABEL: func.func @null_experts
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.if
// CHECK: linalg.generic
// CHECK: } else {
// CHECK: scf.if
// CHECK: arith.maximumf
// CHECK: math.exp
func.func @null_experts(%x: tensor<4x16xf32>, %idx: tensor<4x2xi32>, %w: tensor<4x2xf32>, %v: tensor<1x16xf32>, %mix: tensor<1x2x16xf32>) -> tensor<4x16xf32> {
  %n = moe.null_experts %x, %idx, %w constants(%v, %mix) first 4 zero 1 copy 1 constant 1 : tensor<4x16xf32>, tensor<4x2xi32>, tensor<4x2xf32>, tensor<1x16xf32>, tensor<1x2x16xf32> -> tensor<4x16xf32>
  return %n : tensor<4x16xf32>
}

// -----

// Tests shared experts with a sigmoid gate: dense GEMMs, then a matvec for the
// gate logits and a broadcast multiply by their sigmoid.
// CHECK-LABEL: func.func @shared_experts
// CHECK: linalg.matmul
// CHECK: linalg.matmul
// CHECK: linalg.matmul
// CHECK: linalg.matvec
// CHECK: linalg.generic
// CHECK: arith.negf
func.func @shared_experts(%x: tensor<4x16xf32>, %g: tensor<16x32xf32>, %u: tensor<16x32xf32>, %d: tensor<32x16xf32>, %sg: tensor<16xf32>) -> tensor<4x16xf32> {
  %s = moe.shared_experts %x gate %g up %u down %d sigmoid_gate %sg activation silu layout in_out : (tensor<4x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<32x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  return %s : tensor<4x16xf32>
}

// -----

// Tests that a whole layer is decomposed and lowered: no moe op is left.
// CHECK-LABEL: func.func @layer
// CHECK-NOT: = moe.
// CHECK: return
func.func @layer(%x: tensor<4x16xf32>, %wr: tensor<16x4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x16xf32> {
  %y = moe.layer %x router %wr experts up %u down %d routing <scoring = softmax, top_k = 2> activation relu layout in_out : (tensor<4x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// Tests union_ffn: router softmax, per (sequence, expert) top-capacity gather,
// the expert's column slice of the FFN, scatter-add back.
// CHECK-LABEL: func.func @union_ffn
// CHECK-NOT: moe.union_ffn
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<2x6x8xf32> into tensor<12x8xf32>
// CHECK: linalg.matmul
// CHECK: math.exp
// Compacted: each (sequence, expert) gathers its capacity (3) rows and their
// positions; no masked [12, 8] copy of the tokens per expert.
// CHECK: tensor.empty() : tensor<3x8xf32>
// CHECK: tensor.empty() : tensor<3xindex>
// CHECK-DAG: tensor.extract_slice %{{.*}}[0, %{{.*}}] [8, 4] [1, 1] : tensor<8x16xf32> to tensor<8x4xf32>
// CHECK-DAG: tensor.extract_slice %{{.*}}[%{{.*}}, 0] [4, 8] [1, 1] : tensor<16x8xf32> to tensor<4x8xf32>
// CHECK: tensor.expand_shape
func.func @union_ffn(%x: tensor<2x6x8xf32>, %r: tensor<8x4xf32>, %rb: tensor<4xf32>, %u: tensor<8x16xf32>, %d: tensor<16x8xf32>) -> tensor<2x6x8xf32> {
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation relu : (tensor<2x6x8xf32>, tensor<8x4xf32>, tensor<4xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<2x6x8xf32>
  return %y : tensor<2x6x8xf32>
}

// -----

// Tests union_attention: gate, top-k head mask, batch-axis normalisation, RoPE
// (cos/sin at compacted positions) and causal attention per (head, sequence).
// CHECK-LABEL: func.func @union_attention
// CHECK-NOT: moe.union_attention
// Compacted as in union_ffn: capacity (3) rows and positions per (head,
// sequence), which attention then runs over.
// CHECK: tensor.empty() : tensor<3x8xf32>
// CHECK: tensor.empty() : tensor<3xindex>
// CHECK: math.cos
// CHECK: math.sin
// CHECK: arith.maximumf
// CHECK: tensor.expand_shape
func.func @union_attention(%x: tensor<2x6x8xf32>, %g: tensor<8x2xf32>, %gb: tensor<2xf32>, %q: tensor<2x8x4xf32>, %k: tensor<2x8x4xf32>, %v: tensor<2x8x4xf32>, %o: tensor<2x4x8xf32>) -> tensor<2x6x8xf32> {
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 1 capacity 3 : (tensor<2x6x8xf32>, tensor<8x2xf32>, tensor<2xf32>, tensor<2x8x4xf32>, tensor<2x8x4xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<2x6x8xf32>
  return %y : tensor<2x6x8xf32>
}

// -----

// Tests composition: a loop over the requests; per request the argmax of its
// selector row (a loop over the 3 models, strict ogt in f32 so ties keep the
// lower index), the request's slice of the inputs, an index_switch whose case m
// calls model m (the unreachable default calls the last one), and the call's
// result inserted at the request.
// CHECK-LABEL: func.func @composition
// CHECK-SAME: %[[SEL:[^:]*]]: tensor<5x3xbf16>, %[[X:[^:]*]]: tensor<5x16x8xf32>
// CHECK-NOT: moe.composition
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : index
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<5x16x8xf32>
// CHECK: %[[OUT:.*]] = scf.for %[[R:.*]] = %[[C0]] to %[[C5]] step %{{.*}} iter_args(%[[ACC:.*]] = %[[INIT]]) -> (tensor<5x16x8xf32>)
// CHECK: %[[ROW:.*]] = tensor.extract_slice %[[SEL]][%[[R]], 0] [1, 3] [1, 1] : tensor<5x3xbf16> to tensor<3xbf16>
// CHECK: %[[BEST:.*]]:2 = scf.for %[[M:.*]] = %[[C0]] to %[[C3]] {{.*}} -> (index, f32)
// CHECK: %[[S:.*]] = tensor.extract %[[ROW]][%[[M]]]
// CHECK: %[[SF:.*]] = arith.extf %[[S]] : bf16 to f32
// CHECK: arith.cmpf ogt, %[[SF]]
// CHECK: %[[REQ:.*]] = tensor.extract_slice %[[X]][%[[R]], 0, 0] [1, 16, 8] [1, 1, 1] : tensor<5x16x8xf32> to tensor<16x8xf32>
// CHECK: %[[Y:.*]] = scf.index_switch %[[BEST]]#0 -> tensor<16x8xf32>
// CHECK-NEXT: case 0 {
// CHECK-NEXT: %[[A:.*]] = func.call @chat(%[[REQ]]) : (tensor<16x8xf32>) -> tensor<16x8xf32>
// CHECK-NEXT: scf.yield %[[A]]
// CHECK: case 1 {
// CHECK-NEXT: func.call @coder(%[[REQ]])
// CHECK: case 2 {
// CHECK-NEXT: func.call @math(%[[REQ]])
// CHECK: default {
// CHECK-NEXT: func.call @math(%[[REQ]])
// CHECK: %[[INS:.*]] = tensor.insert_slice %[[Y]] into %[[ACC]][%[[R]], 0, 0] [1, 16, 8] [1, 1, 1] : tensor<16x8xf32> into tensor<5x16x8xf32>
// CHECK: scf.yield %[[INS]]
// CHECK: return %[[OUT]]
func.func private @chat(tensor<16x8xf32>) -> tensor<16x8xf32>
func.func private @coder(tensor<16x8xf32>) -> tensor<16x8xf32>
func.func private @math(tensor<16x8xf32>) -> tensor<16x8xf32>
func.func @composition(%sel: tensor<5x3xbf16>, %x: tensor<5x16x8xf32>) -> tensor<5x16x8xf32> {
  %y = moe.composition %sel, %x models [@chat, @coder, @math] : tensor<5x3xbf16>, tensor<5x16x8xf32> -> tensor<5x16x8xf32>
  return %y : tensor<5x16x8xf32>
}

// -----

// Tests that a model's body is lowered like any other function, that a
// dynamic number of requests bounds the request loop by the selector's size,
// and that with one model the switch folds into a plain call.
// CHECK-LABEL: func.func private @doubled
// CHECK-NOT: moe.
// CHECK: linalg.matmul
// CHECK-LABEL: func.func @dynamic_requests
// CHECK-SAME: %[[SEL:[^:]*]]: tensor<?x1xf32>
// CHECK: %[[N:.*]] = tensor.dim %[[SEL]], %{{.*}} : tensor<?x1xf32>
// CHECK: tensor.empty(%[[N]]) : tensor<?x4x8xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[N]]
// CHECK-NOT: scf.index_switch
// CHECK: func.call @doubled
func.func private @doubled(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %g = arith.constant dense<0.5> : tensor<8x16xf32>
  %u = arith.constant dense<0.25> : tensor<8x16xf32>
  %d = arith.constant dense<0.125> : tensor<16x8xf32>
  %y = moe.shared_experts %x gate %g up %u down %d activation silu layout in_out : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
func.func @dynamic_requests(%sel: tensor<?x1xf32>, %x: tensor<?x4x8xf32>) -> tensor<?x4x8xf32> {
  %y = moe.composition %sel, %x models [@doubled] : tensor<?x1xf32>, tensor<?x4x8xf32> -> tensor<?x4x8xf32>
  return %y : tensor<?x4x8xf32>
}

// -----

// Tests composition of models that take their weights: the call of model m
// passes the request's slice, then model m's weights operands (model 0 two,
// model 1 none, model 2 one), in every case and in the default.
// CHECK-LABEL: func.func @composition_weights
// CHECK-SAME: %[[SEL:[^:]*]]: tensor<5x3xf32>, %[[X:[^:]*]]: tensor<5x16x8xf32>, %[[R0:[^:]*]]: tensor<4x8xf32>, %[[B0:[^:]*]]: tensor<4xf32>, %[[R2:[^:]*]]: tensor<8x8xf32>
// CHECK: scf.for
// CHECK: %[[REQ:.*]] = tensor.extract_slice %[[X]]
// CHECK: scf.index_switch
// CHECK-NEXT: case 0 {
// CHECK-NEXT: func.call @chat_weighted(%[[REQ]], %[[R0]], %[[B0]]) : (tensor<16x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<16x8xf32>
// CHECK: case 1 {
// CHECK-NEXT: func.call @coder_constant(%[[REQ]]) : (tensor<16x8xf32>) -> tensor<16x8xf32>
// CHECK: case 2 {
// CHECK-NEXT: func.call @math_weighted(%[[REQ]], %[[R2]]) : (tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
// CHECK: default {
// CHECK-NEXT: func.call @math_weighted(%[[REQ]], %[[R2]])
func.func private @chat_weighted(tensor<16x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<16x8xf32>
func.func private @coder_constant(tensor<16x8xf32>) -> tensor<16x8xf32>
func.func private @math_weighted(tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
func.func @composition_weights(%sel: tensor<5x3xf32>, %x: tensor<5x16x8xf32>, %r0: tensor<4x8xf32>, %b0: tensor<4xf32>, %r2: tensor<8x8xf32>) -> tensor<5x16x8xf32> {
  %y = moe.composition %sel, %x models [@chat_weighted, @coder_constant, @math_weighted]
      weights(%r0, %b0, %r2 : tensor<4x8xf32>, tensor<4xf32>, tensor<8x8xf32>)
      : tensor<5x3xf32>, tensor<5x16x8xf32> -> tensor<5x16x8xf32>
  return %y : tensor<5x16x8xf32>
}
