// RUN: moe-opt %s --convert-moe-to-gpu=multiprocessors=0 -verify-diagnostics

// The persistent grid needs at least one block.
func.func @no_multiprocessors(%rows: memref<128x64xbf16>, %offsets: memref<3xi64>, %w: memref<2x128x64xbf16>, %init: memref<128x128xbf16>) {
  // expected-error @+1 {{needs a positive multiprocessors option, got 0}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<128x64xbf16>, memref<3xi64>, memref<2x128x64xbf16> outs memref<128x128xbf16>
  return
}
