// RUN: moe-opt %s --convert-moe-to-gpu=multiprocessors=0 -split-input-file -verify-diagnostics

// The persistent grid needs at least one block.
func.func @no_multiprocessors(%rows: memref<128x64xbf16>, %offsets: memref<3xi64>, %w: memref<2x128x64xbf16>, %init: memref<128x128xbf16>) {
  // expected-error @+1 {{needs a positive multiprocessors option, got 0}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<128x64xbf16>, memref<3xi64>, memref<2x128x64xbf16> outs memref<128x128xbf16>
  return
}

// -----

func.func @fused_router_no_multiprocessors(%x: memref<64x128xbf16>, %wr: memref<8x128xbf16>, %w: memref<64x2xf32>, %i: memref<64x2xi32>) {
  // expected-error @+1 {{needs a positive multiprocessors option, got 0}}
  moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w, %i)
      : memref<64x128xbf16>, memref<8x128xbf16> outs memref<64x2xf32>, memref<64x2xi32>
  return
}
