// RUN: moe-opt %s --convert-grouped-matmul-to-linalg -verify-diagnostics

func.func @buffers(%rows: memref<128x64xbf16>, %offsets: memref<3xi64>, %w: memref<2x128x64xbf16>, %init: memref<128x128xbf16>) {
  // expected-error @+1 {{on buffers has no CPU lowering (convert-grouped-matmul-to-linalg runs before bufferization)}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<128x64xbf16>, memref<3xi64>, memref<2x128x64xbf16> outs memref<128x128xbf16>
  return
}
