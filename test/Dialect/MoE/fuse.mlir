// RUN: moe-opt %s --moe-fuse | FileCheck %s
// RUN: moe-opt %s --moe-fuse | moe-opt --moe-fuse | FileCheck %s

// moe-fuse: a moe.grouped_matmul reading a moe.dispatch's rows reads the
// tokens through the dispatch's sources instead (slots = K); the GEMM that
// reads the first one's output, and GEMMs whose rows come from elsewhere,
// stay as they are.

// CHECK-LABEL: func.func @dispatch_then_gemms
// CHECK-SAME: (%[[X:.*]]: tensor<64x128xbf16>, %[[IDX:.*]]: tensor<64x2xi32>
// CHECK: %[[ROWS:.*]], %[[OFFSETS:.*]], %[[SOURCES:.*]] = moe.dispatch %[[X]], %[[IDX]] experts 8
// CHECK: %[[H:.*]] = moe.grouped_matmul %[[X]] gather %[[SOURCES]] slots 2, %[[OFFSETS]] weight %{{.*}} gate %{{.*}} activation silu outs(%{{.*}}) : tensor<64x128xbf16> gather tensor<128xi32>, tensor<9xi32>
// CHECK: moe.grouped_matmul %[[H]], %[[OFFSETS]] weight
func.func @dispatch_then_gemms(%x: tensor<64x128xbf16>, %idx: tensor<64x2xi32>, %up: tensor<8x256x128xbf16>,
                               %gate: tensor<8x256x128xbf16>, %down: tensor<8x128x256xbf16>,
                               %h0: tensor<128x256xbf16>, %y0: tensor<128x128xbf16>) -> tensor<128x128xbf16> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 8
      : tensor<64x128xbf16>, tensor<64x2xi32> -> tensor<128x128xbf16>, tensor<9xi32>, tensor<128xi32>
  %h = moe.grouped_matmul %rows, %offsets weight %up gate %gate activation silu outs(%h0)
      : tensor<128x128xbf16>, tensor<9xi32>, tensor<8x256x128xbf16> gate tensor<8x256x128xbf16> outs tensor<128x256xbf16> -> tensor<128x256xbf16>
  %y = moe.grouped_matmul %h, %offsets weight %down outs(%y0)
      : tensor<128x256xbf16>, tensor<9xi32>, tensor<8x128x256xbf16> outs tensor<128x128xbf16> -> tensor<128x128xbf16>
  return %y : tensor<128x128xbf16>
}

// Capacity mode: the sources name the kept slots; the gather is the same.
// CHECK-LABEL: func.func @capacity
// CHECK: %{{.*}}, %[[OFFSETS:.*]], %[[SOURCES:.*]] = moe.dispatch
// CHECK: moe.grouped_matmul %arg0 gather %[[SOURCES]] slots 2, %[[OFFSETS]]
func.func @capacity(%x: tensor<64x128xbf16>, %idx: tensor<64x2xi32>, %up: tensor<8x128x128xbf16>,
                    %h0: tensor<64x128xbf16>) -> tensor<64x128xbf16> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 8 capacity 8 drop position
      : tensor<64x128xbf16>, tensor<64x2xi32> -> tensor<64x128xbf16>, tensor<9xi32>, tensor<64xi32>
  %h = moe.grouped_matmul %rows, %offsets weight %up outs(%h0)
      : tensor<64x128xbf16>, tensor<9xi32>, tensor<8x128x128xbf16> outs tensor<64x128xbf16> -> tensor<64x128xbf16>
  return %h : tensor<64x128xbf16>
}

// Rows that are not a dispatch's: unchanged.
// CHECK-LABEL: func.func @rows_from_argument
// CHECK: moe.grouped_matmul %arg0, %arg1 weight
func.func @rows_from_argument(%rows: tensor<128x128xbf16>, %offsets: tensor<9xi32>, %up: tensor<8x128x128xbf16>,
                              %h0: tensor<128x128xbf16>) -> tensor<128x128xbf16> {
  %h = moe.grouped_matmul %rows, %offsets weight %up outs(%h0)
      : tensor<128x128xbf16>, tensor<9xi32>, tensor<8x128x128xbf16> outs tensor<128x128xbf16> -> tensor<128x128xbf16>
  return %h : tensor<128x128xbf16>
}

// A dynamic top-k: the kernel could not divide by it; unchanged.
// CHECK-LABEL: func.func @dynamic_top_k
// CHECK: %[[ROWS:.*]], %{{.*}}, %{{.*}} = moe.dispatch
// CHECK: moe.grouped_matmul %[[ROWS]],
func.func @dynamic_top_k(%x: tensor<64x128xbf16>, %idx: tensor<64x?xi32>, %up: tensor<8x128x128xbf16>,
                         %h0: tensor<128x128xbf16>) -> tensor<128x128xbf16> {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 8
      : tensor<64x128xbf16>, tensor<64x?xi32> -> tensor<128x128xbf16>, tensor<9xi32>, tensor<128xi32>
  %h = moe.grouped_matmul %rows, %offsets weight %up outs(%h0)
      : tensor<128x128xbf16>, tensor<9xi32>, tensor<8x128x128xbf16> outs tensor<128x128xbf16> -> tensor<128x128xbf16>
  return %h : tensor<128x128xbf16>
}
