// RUN: moe-opt %s --moe-decompose -split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-decompose=expand-chains=true -split-input-file | FileCheck %s --check-prefix=CHAIN

// Tests the Mixtral-shaped expansion: f32 router logits, router, dropless
// dispatch over the routed experts, experts, combine.
// CHECK-LABEL: func.func @mixtral_in_out
// CHECK-SAME: (%[[X:.*]]: tensor<16x64xbf16>, %[[WR:.*]]: tensor<64x8xbf16>, %[[G:.*]]: tensor<8x64x128xbf16>, %[[U:.*]]: tensor<8x64x128xbf16>, %[[D:.*]]: tensor<8x128x64xbf16>)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<16x8xf32>
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[EMPTY]] : tensor<16x8xf32>)
// CHECK: %[[LOGITS:.*]] = linalg.matmul ins(%[[X]], %[[WR]] : tensor<16x64xbf16>, tensor<64x8xbf16>) outs(%[[INIT]] : tensor<16x8xf32>)
// CHECK: %[[W:.*]], %[[I:.*]] = moe.router %[[LOGITS]] routing <scoring = softmax, top_k = 2, renormalize = true> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
// CHECK: %[[ROWS:.*]], %[[OFFSETS:.*]], %[[SOURCES:.*]] = moe.dispatch %[[X]], %[[I]] experts 8 : tensor<16x64xbf16>, tensor<16x2xi32> -> tensor<32x64xbf16>, tensor<9xi32>, tensor<32xi32>
// CHECK: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFFSETS]] gate %[[G]] up %[[U]] down %[[D]] activation silu layout in_out
// CHECK: %[[OUT:.*]] = moe.combine %[[Y]], %[[SOURCES]], %[[W]] : tensor<32x64xbf16>, tensor<32xi32>, tensor<16x2xf32> -> tensor<16x64xbf16>
// CHECK-NOT: moe.layer
// CHECK: return %[[OUT]]
func.func @mixtral_in_out(%x: tensor<16x64xbf16>, %wr: tensor<64x8xbf16>, %g: tensor<8x64x128xbf16>, %u: tensor<8x64x128xbf16>, %d: tensor<8x128x64xbf16>) -> tensor<16x64xbf16> {
  %y = moe.layer %x router %wr experts gate %g up %u down %d
      routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout in_out
      : (tensor<16x64xbf16>, tensor<64x8xbf16>, tensor<8x64x128xbf16>, tensor<8x64x128xbf16>, tensor<8x128x64xbf16>) -> tensor<16x64xbf16>
  return %y : tensor<16x64xbf16>
}

// -----

// Tests that the Hugging Face layout reads the router weight transposed.
// CHECK-DAG: #[[LHS:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[RHS:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func.func @mixtral_out_in
// CHECK: linalg.matmul indexing_maps = [#[[LHS]], #[[RHS]], #{{.*}}] ins(%{{.*}}, %{{.*}} : tensor<16x64xf32>, tensor<8x64xf32>) outs(%{{.*}} : tensor<16x8xf32>)
// CHECK: moe.experts {{.*}} layout out_in
func.func @mixtral_out_in(%x: tensor<16x64xf32>, %wr: tensor<8x64xf32>, %g: tensor<8x128x64xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x router %wr experts gate %g up %u down %d
      routing <scoring = softmax, top_k = 2, renormalize = true> activation silu layout out_in
      : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// -----

// Tests DeepSeek-V3: bias goes to the router, capacity mode with the score
// policy passes the routing weights to dispatch, shared experts are added.
// CHECK-LABEL: func.func @deepseek_v3
// CHECK-SAME: (%[[X:.*]]: tensor<16x64xf32>, %{{.*}}: tensor<64x16xf32>, %[[B:.*]]: tensor<16xf32>
// CHECK: %[[W:.*]], %[[I:.*]] = moe.router %{{.*}} bias %[[B]] routing <scoring = sigmoid, top_k = 4, renormalize = true, scaling_factor = 2.500000e+00 : f64, num_groups = 4, kept_groups = 2> : tensor<16x16xf32>, tensor<16xf32> -> tensor<16x4xf32>, tensor<16x4xi32>
// CHECK: moe.dispatch %[[X]], %[[I]] weights %[[W]] experts 16 capacity 3 drop score : tensor<16x64xf32>, tensor<16x4xi32>, tensor<16x4xf32> -> tensor<48x64xf32>, tensor<17xi32>, tensor<48xi32>
// CHECK: %[[ROUTED:.*]] = moe.combine
// CHECK: %[[SHARED:.*]] = moe.shared_experts %[[X]] gate %{{.*}} up %{{.*}} down %{{.*}} activation silu layout in_out
// CHECK: %[[OUT:.*]] = arith.addf %[[ROUTED]], %[[SHARED]] : tensor<16x64xf32>
// CHECK: return %[[OUT]]
func.func @deepseek_v3(%x: tensor<16x64xf32>, %wr: tensor<64x16xf32>, %b: tensor<16xf32>,
    %g: tensor<16x64x32xf32>, %u: tensor<16x64x32xf32>, %d: tensor<16x32x64xf32>,
    %sg: tensor<64x64xf32>, %su: tensor<64x64xf32>, %sd: tensor<64x64xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x router %wr bias %b experts gate %g up %u down %d
      shared_gate %sg shared_up %su shared_down %sd
      routing <scoring = sigmoid, top_k = 4, renormalize = true, scaling_factor = 2.5, num_groups = 4, kept_groups = 2>
      activation silu layout in_out capacity 3 drop score
      : (tensor<16x64xf32>, tensor<64x16xf32>, tensor<16xf32>, tensor<16x64x32xf32>, tensor<16x64x32xf32>, tensor<16x32x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// -----

// Tests Qwen2-MoE: the shared expert keeps its sigmoid gate.
// CHECK-LABEL: func.func @qwen2_shared_gate
// CHECK: moe.shared_experts %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} sigmoid_gate %{{.*}} activation silu layout out_in
func.func @qwen2_shared_gate(%x: tensor<8x32xf32>, %wr: tensor<4x32xf32>, %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>,
    %sg: tensor<64x32xf32>, %su: tensor<64x32xf32>, %sd: tensor<32x64xf32>, %gate: tensor<32xf32>) -> tensor<8x32xf32> {
  %y = moe.layer %x router %wr experts gate %g up %u down %d
      shared_gate %sg shared_up %su shared_down %sd shared_sigmoid_gate %gate
      routing <scoring = softmax, top_k = 2> activation silu layout out_in
      : (tensor<8x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>, tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}

// -----

// Tests that copy and constant experts become moe.null_experts (numbered after
// the 6 routed experts) and that only routed experts are dispatched.
// CHECK-LABEL: func.func @null_experts
// CHECK: %[[W:.*]], %[[I:.*]] = moe.router %{{.*}} routing <scoring = softmax, top_k = 2, zero_experts = 1, copy_experts = 1, constant_experts = 2> : tensor<16x10xf32>
// CHECK: moe.dispatch %{{.*}}, %[[I]] experts 6 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<7xi32>, tensor<32xi32>
// CHECK: %[[ROUTED:.*]] = moe.combine
// CHECK: %[[NULLS:.*]] = moe.null_experts %{{.*}}, %[[I]], %[[W]] constants(%{{.*}}, %{{.*}}) first 6 zero 1 copy 1 constant 2
// CHECK: arith.addf %[[ROUTED]], %[[NULLS]]
func.func @null_experts(%x: tensor<16x64xf32>, %wr: tensor<64x10xf32>, %u: tensor<6x64x32xf32>, %d: tensor<6x32x64xf32>,
    %v: tensor<2x64xf32>, %mix: tensor<2x2x64xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x router %wr experts up %u down %d constants(%v, %mix)
      routing <scoring = softmax, top_k = 2, zero_experts = 1, copy_experts = 1, constant_experts = 2>
      activation gelu layout in_out
      : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<6x64x32xf32>, tensor<6x32x64xf32>, tensor<2x64xf32>, tensor<2x2x64xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// -----

// Tests that zero experts alone produce no op (they add nothing).
// CHECK-LABEL: func.func @zero_experts_only
// CHECK: moe.router {{.*}} top_p = 5.000000e-01 : f64, zero_experts = 2>
// CHECK: moe.dispatch {{.*}} experts 4
// CHECK-NOT: moe.null_experts
// CHECK-NOT: arith.addf
func.func @zero_experts_only(%x: tensor<8x32xf32>, %wr: tensor<32x6xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x32xf32> {
  %y = moe.layer %x router %wr experts up %u down %d
      routing <scoring = softmax, top_k = 3, top_p = 0.5, zero_experts = 2> activation relu layout in_out
      : (tensor<8x32xf32>, tensor<32x6xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}

// -----

// Tests a dynamic number of tokens: logits and rows stay dynamic.
// CHECK-LABEL: func.func @dynamic_tokens
// CHECK-SAME: (%[[X:.*]]: tensor<?x32xf32>
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[T:.*]] = tensor.dim %[[X]], %[[C0]] : tensor<?x32xf32>
// CHECK: tensor.empty(%[[T]]) : tensor<?x4xf32>
// CHECK: moe.router %{{.*}} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK: moe.dispatch {{.*}} -> tensor<?x32xf32>, tensor<5xi32>, tensor<?xi32>
// CHECK: moe.combine {{.*}} -> tensor<?x32xf32>
func.func @dynamic_tokens(%x: tensor<?x32xf32>, %wr: tensor<32x4xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router %wr experts up %u down %d
      routing <scoring = softmax, top_k = 2> activation relu layout in_out
      : (tensor<?x32xf32>, tensor<32x4xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that chains stay whole unless expand-chains is set; with it, every
// iteration is a layer on its router slice plus the residual, decomposed in turn.
// CHECK-LABEL: func.func @chain
// CHECK: moe.chain %{{.*}} iterations 2
// CHAIN-LABEL: func.func @chain
// CHAIN-SAME: (%[[X:.*]]: tensor<8x32xf32>, %[[WR:.*]]: tensor<2x32x4xf32>
// CHAIN: %[[R0:.*]] = tensor.extract_slice %[[WR]][0, 0, 0] [1, 32, 4] [1, 1, 1] : tensor<2x32x4xf32> to tensor<32x4xf32>
// CHAIN: linalg.matmul ins(%[[X]], %[[R0]]
// CHAIN: %[[Y0:.*]] = moe.combine
// CHAIN: %[[X1:.*]] = arith.addf %[[X]], %[[Y0]]
// CHAIN: %[[R1:.*]] = tensor.extract_slice %[[WR]][1, 0, 0] [1, 32, 4] [1, 1, 1] : tensor<2x32x4xf32> to tensor<32x4xf32>
// CHAIN: linalg.matmul ins(%[[X1]], %[[R1]]
// CHAIN: moe.dispatch %[[X1]]
// CHAIN: %[[Y1:.*]] = moe.combine
// CHAIN: %[[X2:.*]] = arith.addf %[[X1]], %[[Y1]]
// CHAIN-NOT: moe.chain
// CHAIN-NOT: moe.layer
// CHAIN: return %[[X2]]
func.func @chain(%x: tensor<8x32xf32>, %wr: tensor<2x32x4xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x32xf32> {
  %y = moe.chain %x iterations 2 router %wr experts up %u down %d
      routing <scoring = softmax, top_k = 2> activation silu layout in_out
      : (tensor<8x32xf32>, tensor<2x32x4xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}
