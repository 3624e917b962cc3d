// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// Tests that moe.grouped_matmul round-trips on tensors and on memrefs, with
// and without a gate, and with an f32 output for 16-bit operands (router
// logits).

// CHECK-LABEL: func.func @gated_tensors
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} weight %{{.*}} gate %{{.*}} activation silu outs(%{{.*}}) : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> gate tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
func.func @gated_tensors(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %up: tensor<8x128x64xbf16>, %gate: tensor<8x128x64xbf16>,
                         %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  %h = moe.grouped_matmul %rows, %offsets weight %up gate %gate activation silu outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> gate tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// CHECK-LABEL: func.func @plain_memrefs
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} weight %{{.*}} outs(%{{.*}}) : memref<256x128xf16>, memref<9xi32>, memref<8x64x128xf16> outs memref<256x64xf16>
// CHECK-NOT: ->
func.func @plain_memrefs(%rows: memref<256x128xf16>, %offsets: memref<9xi32>, %down: memref<8x64x128xf16>, %out: memref<256x64xf16>) {
  moe.grouped_matmul %rows, %offsets weight %down outs(%out)
      : memref<256x128xf16>, memref<9xi32>, memref<8x64x128xf16> outs memref<256x64xf16>
  return
}

// CHECK-LABEL: func.func @f32_output
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} weight %{{.*}} outs(%{{.*}}) : tensor<64x256xbf16>, tensor<2xi64>, tensor<1x8x256xbf16> outs tensor<64x8xf32> -> tensor<64x8xf32>
func.func @f32_output(%x: tensor<64x256xbf16>, %whole: tensor<2xi64>, %router: tensor<1x8x256xbf16>,
                      %init: tensor<64x8xf32>) -> tensor<64x8xf32> {
  %logits = moe.grouped_matmul %x, %whole weight %router outs(%init)
      : tensor<64x256xbf16>, tensor<2xi64>, tensor<1x8x256xbf16> outs tensor<64x8xf32> -> tensor<64x8xf32>
  return %logits : tensor<64x8xf32>
}

// Rows gathered from the tokens through a dispatch's sources (moe-fuse).
// CHECK-LABEL: func.func @gathered_tensors
// CHECK: moe.grouped_matmul %{{.*}} gather %{{.*}} slots 2, %{{.*}} weight %{{.*}} gate %{{.*}} activation silu outs(%{{.*}}) : tensor<128x64xbf16> gather tensor<256xi32>, tensor<9xi64>, tensor<8x128x64xbf16> gate tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
func.func @gathered_tensors(%x: tensor<128x64xbf16>, %sources: tensor<256xi32>, %offsets: tensor<9xi64>, %up: tensor<8x128x64xbf16>,
                            %gate: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  %h = moe.grouped_matmul %x gather %sources slots 2, %offsets weight %up gate %gate activation silu outs(%init)
      : tensor<128x64xbf16> gather tensor<256xi32>, tensor<9xi64>, tensor<8x128x64xbf16> gate tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// CHECK-LABEL: func.func @gathered_memrefs
// CHECK: moe.grouped_matmul %{{.*}} gather %{{.*}} slots 8, %{{.*}} weight %{{.*}} outs(%{{.*}}) : memref<64x128xf16> gather memref<512xi64>, memref<9xi32>, memref<8x64x128xf16> outs memref<512x64xf16>
func.func @gathered_memrefs(%x: memref<64x128xf16>, %sources: memref<512xi64>, %offsets: memref<9xi32>, %w: memref<8x64x128xf16>, %out: memref<512x64xf16>) {
  moe.grouped_matmul %x gather %sources slots 8, %offsets weight %w outs(%out)
      : memref<64x128xf16> gather memref<512xi64>, memref<9xi32>, memref<8x64x128xf16> outs memref<512x64xf16>
  return
}
