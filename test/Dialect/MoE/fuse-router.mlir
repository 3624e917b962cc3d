// RUN: moe-opt %s -split-input-file --moe-decompose --moe-fuse | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-decompose --moe-fuse | moe-opt -split-input-file --convert-moe-to-linalg | FileCheck %s --check-prefix=UNFUSED

// moe-fuse: the router logits GEMM of an out_in router weight (B transposed,
// zero-filled f32 destination) and the moe.router that alone reads it become
// one moe.fused_router writing into fresh destinations; the bias goes with it.
// convert-moe-to-linalg unfuses it again (the CPU has no fused kernel).
// CHECK-LABEL: func.func @deepseek_like
// CHECK-SAME: (%[[X:.*]]: tensor<16x64xbf16>, %[[WR:.*]]: tensor<16x64xbf16>, %[[B:.*]]: tensor<16xf32>
// CHECK-NOT: linalg.matmul
// CHECK-DAG: %[[W0:.*]] = tensor.empty() : tensor<16x4xf32>
// CHECK-DAG: %[[I0:.*]] = tensor.empty() : tensor<16x4xi32>
// CHECK: %[[R:.*]]:2 = moe.fused_router %[[X]] weight %[[WR]] bias %[[B]] routing <scoring = sigmoid, top_k = 4, renormalize = true, num_groups = 4, kept_groups = 2> outs(%[[W0]], %[[I0]]) : tensor<16x64xbf16>, tensor<16x64xbf16> bias tensor<16xf32> outs tensor<16x4xf32>, tensor<16x4xi32> -> tensor<16x4xf32>, tensor<16x4xi32>
// CHECK: moe.dispatch %[[X]], %[[R]]#1 experts 16
// CHECK: moe.combine %{{.*}}, %{{.*}}, %[[R]]#0
// UNFUSED-LABEL: func.func @deepseek_like
// UNFUSED-NOT: moe.{{(fused_)?}}router
// UNFUSED: linalg.matmul indexing_maps = [#{{.*}}] ins(%arg0, %arg1 : tensor<16x64xbf16>, tensor<16x64xbf16>)
// UNFUSED-NOT: moe.{{(fused_)?}}router
func.func @deepseek_like(%x: tensor<16x64xbf16>, %wr: tensor<16x64xbf16>, %b: tensor<16xf32>, %g: tensor<16x32x64xbf16>,
                         %u: tensor<16x32x64xbf16>, %d: tensor<16x64x32xbf16>) -> tensor<16x64xbf16> {
  %y = moe.layer %x router %wr bias %b experts gate %g up %u down %d
      routing <scoring = sigmoid, top_k = 4, renormalize = true, num_groups = 4, kept_groups = 2> activation silu layout out_in
      : (tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16xf32>, tensor<16x32x64xbf16>, tensor<16x32x64xbf16>, tensor<16x64x32xbf16>) -> tensor<16x64xbf16>
  return %y : tensor<16x64xbf16>
}

// -----

// Dynamic tokens: the destinations take T from the tokens.
// CHECK-LABEL: func.func @dynamic_tokens
// CHECK: %[[T:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x64xbf16>
// CHECK-DAG: tensor.empty(%[[T]]) : tensor<?x2xf32>
// CHECK-DAG: tensor.empty(%[[T]]) : tensor<?x2xi32>
// CHECK: moe.fused_router %arg0 weight %arg1 routing <scoring = softmax, top_k = 2> outs
func.func @dynamic_tokens(%x: tensor<?x64xbf16>, %wr: tensor<8x64xbf16>, %g: tensor<8x32x64xbf16>,
                          %u: tensor<8x32x64xbf16>, %d: tensor<8x64x32xbf16>) -> tensor<?x64xbf16> {
  %y = moe.layer %x router %wr experts gate %g up %u down %d
      routing <scoring = softmax, top_k = 2> activation silu layout out_in
      : (tensor<?x64xbf16>, tensor<8x64xbf16>, tensor<8x32x64xbf16>, tensor<8x32x64xbf16>, tensor<8x64x32xbf16>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

// The in_out layout (a plain linalg.matmul, the router weight [H, E]) stays
// apart: the fused kernel reads K-contiguous weight rows.
// CHECK-LABEL: func.func @in_out
// CHECK: linalg.matmul ins
// CHECK: moe.router
// CHECK-NOT: moe.fused_router
func.func @in_out(%x: tensor<16x64xbf16>, %wr: tensor<64x8xbf16>, %g: tensor<8x64x32xbf16>,
                  %u: tensor<8x64x32xbf16>, %d: tensor<8x32x64xbf16>) -> tensor<16x64xbf16> {
  %y = moe.layer %x router %wr experts gate %g up %u down %d
      routing <scoring = softmax, top_k = 2> activation silu layout in_out
      : (tensor<16x64xbf16>, tensor<64x8xbf16>, tensor<8x64x32xbf16>, tensor<8x64x32xbf16>, tensor<8x32x64xbf16>) -> tensor<16x64xbf16>
  return %y : tensor<16x64xbf16>
}
