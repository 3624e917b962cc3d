// RUN: moe-opt %s -split-input-file -verify-diagnostics

func.func @tokens_rank(%x: tensor<64xbf16>, %wr: tensor<8x64xbf16>, %w0: tensor<64x2xf32>, %i0: tensor<64x2xi32>) {
  // expected-error @+1 {{'tokens' must have rank 2 ([T, H]), got 1}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : tensor<64xbf16>, tensor<8x64xbf16> outs tensor<64x2xf32>, tensor<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return
}

// -----

func.func @hidden(%x: tensor<64x128xbf16>, %wr: tensor<8x64xbf16>, %w0: tensor<64x2xf32>, %i0: tensor<64x2xi32>) {
  // expected-error @+1 {{'weight' dimension 1 is 64, expected 128 (the hidden size of 'tokens')}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : tensor<64x128xbf16>, tensor<8x64xbf16> outs tensor<64x2xf32>, tensor<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return
}

// -----

func.func @element(%x: tensor<64x64xbf16>, %wr: tensor<8x64xf16>, %w0: tensor<64x2xf32>, %i0: tensor<64x2xi32>) {
  // expected-error @+1 {{'weight' element type 'f16' differs from the element type 'bf16' of 'tokens'}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : tensor<64x64xbf16>, tensor<8x64xf16> outs tensor<64x2xf32>, tensor<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return
}

// -----

func.func @top_k(%x: tensor<64x64xbf16>, %wr: tensor<8x64xbf16>, %w0: tensor<64x3xf32>, %i0: tensor<64x2xi32>) {
  // expected-error @+1 {{'weights_init' dimension 1 is 3, expected 2 (top_k)}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : tensor<64x64xbf16>, tensor<8x64xbf16> outs tensor<64x3xf32>, tensor<64x2xi32> -> tensor<64x3xf32>, tensor<64x2xi32>
  return
}

// -----

func.func @tokens_of_indices(%x: tensor<64x64xbf16>, %wr: tensor<8x64xbf16>, %w0: tensor<64x2xf32>, %i0: tensor<32x2xi32>) {
  // expected-error @+1 {{'indices_init' dimension 0 is 32, expected 64 (the tokens)}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : tensor<64x64xbf16>, tensor<8x64xbf16> outs tensor<64x2xf32>, tensor<32x2xi32> -> tensor<64x2xf32>, tensor<32x2xi32>
  return
}

// -----

func.func @bias(%x: tensor<64x64xbf16>, %wr: tensor<8x64xbf16>, %b: tensor<4xf32>, %w0: tensor<64x2xf32>, %i0: tensor<64x2xi32>) {
  // expected-error @+1 {{'bias' dimension 0 is 4, expected 8 (the experts of 'weight')}}
  %w, %i = moe.fused_router %x weight %wr bias %b routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : tensor<64x64xbf16>, tensor<8x64xbf16> bias tensor<4xf32> outs tensor<64x2xf32>, tensor<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return
}

// -----

func.func @routing(%x: tensor<64x64xbf16>, %wr: tensor<8x64xbf16>, %w0: tensor<64x10xf32>, %i0: tensor<64x10xi32>) {
  // expected-error @+1 {{top_k}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 10> outs(%w0, %i0)
      : tensor<64x64xbf16>, tensor<8x64xbf16> outs tensor<64x10xf32>, tensor<64x10xi32> -> tensor<64x10xf32>, tensor<64x10xi32>
  return
}

// -----

func.func @mixed(%x: memref<64x64xbf16>, %wr: tensor<8x64xbf16>, %w0: tensor<64x2xf32>, %i0: tensor<64x2xi32>) {
  // expected-error @+1 {{operands must be all tensors or all memrefs}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : memref<64x64xbf16>, tensor<8x64xbf16> outs tensor<64x2xf32>, tensor<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return
}

// -----

func.func @no_results(%x: tensor<64x64xbf16>, %wr: tensor<8x64xbf16>, %w0: tensor<64x2xf32>, %i0: tensor<64x2xi32>) {
  // expected-error @+1 {{on tensors must have two results of the types of 'weights_init' and 'indices_init'}}
  moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : tensor<64x64xbf16>, tensor<8x64xbf16> outs tensor<64x2xf32>, tensor<64x2xi32>
  return
}

// -----

func.func @buffer_results(%x: memref<64x64xbf16>, %wr: memref<8x64xbf16>, %w0: memref<64x2xf32>, %i0: memref<64x2xi32>) {
  // expected-error @+1 {{on memrefs has no results}}
  %w, %i = moe.fused_router %x weight %wr routing <scoring = softmax, top_k = 2> outs(%w0, %i0)
      : memref<64x64xbf16>, memref<8x64xbf16> outs memref<64x2xf32>, memref<64x2xi32> -> tensor<64x2xf32>, tensor<64x2xi32>
  return
}
