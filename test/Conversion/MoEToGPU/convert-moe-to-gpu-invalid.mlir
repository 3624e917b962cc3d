// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file -verify-diagnostics

func.func @tensors(%rows: tensor<128x64xbf16>, %offsets: tensor<3xi64>, %w: tensor<2x128x64xbf16>, %init: tensor<128x128xbf16>) -> tensor<128x128xbf16> {
  // expected-error @+1 {{must be on buffers for convert-moe-to-gpu (bufferize first)}}
  %y = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<128x64xbf16>, tensor<3xi64>, tensor<2x128x64xbf16> outs tensor<128x128xbf16> -> tensor<128x128xbf16>
  return %y : tensor<128x128xbf16>
}

// -----

func.func @dynamic(%rows: memref<?x64xbf16>, %offsets: memref<3xi64>, %w: memref<2x128x64xbf16>, %init: memref<?x128xbf16>) {
  // expected-error @+1 {{needs contiguous operands of static shape for the tensor-core kernel, got 'memref<?x64xbf16>'}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<?x64xbf16>, memref<3xi64>, memref<2x128x64xbf16> outs memref<?x128xbf16>
  return
}

// -----

func.func @strided(%rows: memref<128x64xbf16, strided<[128, 1]>>, %offsets: memref<3xi64>, %w: memref<2x128x64xbf16>, %init: memref<128x128xbf16>) {
  // expected-error @+1 {{needs contiguous operands of static shape for the tensor-core kernel, got 'memref<128x64xbf16, strided<[128, 1]>>'}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<128x64xbf16, strided<[128, 1]>>, memref<3xi64>, memref<2x128x64xbf16> outs memref<128x128xbf16>
  return
}

// -----

func.func @f32(%rows: memref<128x64xf32>, %offsets: memref<3xi64>, %w: memref<2x128x64xf32>, %init: memref<128x128xf32>) {
  // expected-error @+1 {{does not fit the tensor-core kernel: elements must be bf16 or f16}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<128x64xf32>, memref<3xi64>, memref<2x128x64xf32> outs memref<128x128xf32>
  return
}

// -----

func.func @reduction(%rows: memref<128x96xbf16>, %offsets: memref<3xi64>, %w: memref<2x128x96xbf16>, %init: memref<128x128xbf16>) {
  // expected-error @+1 {{does not fit the tensor-core kernel: the reduction size 96 must be a multiple of 64}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<128x96xbf16>, memref<3xi64>, memref<2x128x96xbf16> outs memref<128x128xbf16>
  return
}

// -----

func.func @gated_columns(%rows: memref<128x64xbf16>, %offsets: memref<3xi64>, %w: memref<2x64x64xbf16>, %g: memref<2x64x64xbf16>, %init: memref<128x64xbf16>) {
  // expected-error @+1 {{does not fit the tensor-core kernel: the output size 64 must be a multiple of 128 with a gate}}
  moe.grouped_matmul %rows, %offsets weight %w gate %g activation silu outs(%init)
      : memref<128x64xbf16>, memref<3xi64>, memref<2x64x64xbf16> gate memref<2x64x64xbf16> outs memref<128x64xbf16>
  return
}

// -----

// Without a gate any N > 0 fits (masked columns); N = 0 would be an empty grid.
func.func @no_columns(%rows: memref<128x64xbf16>, %offsets: memref<3xi64>, %w: memref<2x0x64xbf16>, %init: memref<128x0xbf16>) {
  // expected-error @+1 {{does not fit the tensor-core kernel: the output size 0 must be positive}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<128x64xbf16>, memref<3xi64>, memref<2x0x64xbf16> outs memref<128x0xbf16>
  return
}

// -----

func.func @fused_router_tensors(%x: tensor<64x128xbf16>, %wr: tensor<8x128xbf16>, %w0: tensor<64x2xf32>, %i0: tensor<64x2xi32>) -> (tensor<64x2xf32>, tensor<64x2xi32>) {
  // expected-error @+1 {{must be on buffers for convert-moe-to-gpu (bufferize first)}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : tensor<64x128xbf16>, tensor<8x128xbf16> outs tensor<64x2xf32>, tensor<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return %w, %i : tensor<64x2xf32>, tensor<64x2xi32>
}

// -----

func.func @fused_router_dynamic(%x: memref<?x128xbf16>, %wr: memref<8x128xbf16>, %w: memref<?x2xf32>, %i: memref<?x2xi32>) {
  // expected-error @+1 {{needs contiguous operands of static shape for the tensor-core kernel, got 'memref<?x128xbf16>'}}
  moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w, %i)
      : memref<?x128xbf16>, memref<8x128xbf16> outs memref<?x2xf32>, memref<?x2xi32>
  return
}

// -----

func.func @fused_router_wide(%x: memref<64x128xbf16>, %wr: memref<320x128xbf16>, %w: memref<64x2xf32>, %i: memref<64x2xi32>) {
  // expected-error @+1 {{does not fit the fused router kernel: more than 256 experts (one column tile)}}
  moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w, %i)
      : memref<64x128xbf16>, memref<320x128xbf16> outs memref<64x2xf32>, memref<64x2xi32>
  return
}

// -----

func.func @fused_router_hidden(%x: memref<64x96xbf16>, %wr: memref<8x96xbf16>, %w: memref<64x2xf32>, %i: memref<64x2xi32>) {
  // expected-error @+1 {{does not fit the fused router kernel: the reduction size 96 must be a multiple of 64}}
  moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w, %i)
      : memref<64x96xbf16>, memref<8x96xbf16> outs memref<64x2xf32>, memref<64x2xi32>
  return
}

// -----

func.func @fused_router_top_k(%x: memref<64x128xbf16>, %wr: memref<64x128xbf16>, %w: memref<64x40xf32>, %i: memref<64x40xi32>) {
  // expected-error @+1 {{does not fit the fused router kernel: top-k above 32}}
  moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 40> outs(%w, %i)
      : memref<64x128xbf16>, memref<64x128xbf16> outs memref<64x40xf32>, memref<64x40xi32>
  return
}
