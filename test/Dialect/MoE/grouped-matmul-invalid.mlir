// RUN: moe-opt %s -split-input-file -verify-diagnostics

func.func @rank(%rows: tensor<256xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{'rows' must have rank 2 ([R, K]), got 1}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @mixed(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: memref<256x128xbf16>) {
  // expected-error @+1 {{operands must be all tensors or all memrefs}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs memref<256x128xbf16>
  return
}

// -----

func.func @no_result(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) {
  // expected-error @+1 {{on tensors must have a result}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16>
  return
}

// -----

func.func @memref_result(%rows: memref<256x64xbf16>, %offsets: memref<9xi64>, %w: memref<8x128x64xbf16>, %init: memref<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{on memrefs has no result}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<256x64xbf16>, memref<9xi64>, memref<8x128x64xbf16> outs memref<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @result_type(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<?x128xbf16> {
  // expected-error @+1 {{result type 'tensor<?x128xbf16>' differs from 'init' type 'tensor<256x128xbf16>'}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<?x128xbf16>
  return %h : tensor<?x128xbf16>
}

// -----

func.func @reduction(%rows: tensor<256x32xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{'rows' dimension 1 is 32, expected 64 (the reduction size K of 'weight')}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x32xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @init_rows(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<128x128xbf16>) -> tensor<128x128xbf16> {
  // expected-error @+1 {{'init' dimension 0 is 128, expected 256 (the rows)}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<128x128xbf16> -> tensor<128x128xbf16>
  return %h : tensor<128x128xbf16>
}

// -----

func.func @init_columns(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x64xbf16>) -> tensor<256x64xbf16> {
  // expected-error @+1 {{'init' dimension 1 is 64, expected 128 (the output size N of 'weight')}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x64xbf16> -> tensor<256x64xbf16>
  return %h : tensor<256x64xbf16>
}

// -----

func.func @offsets(%rows: tensor<256x64xbf16>, %offsets: tensor<8xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{'offsets' dimension 0 is 8, expected 9 (the experts of 'weight' + 1)}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x64xbf16>, tensor<8xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @weight_type(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{'weight' element type 'f16' differs from the element type 'bf16' of 'rows'}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

// f32 is the only other output type allowed (router logits).
func.func @init_type(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xf16>) -> tensor<256x128xf16> {
  // expected-error @+1 {{'init' element type 'f16' must be f32 or the element type 'bf16' of 'rows'}}
  %h = moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xf16> -> tensor<256x128xf16>
  return %h : tensor<256x128xf16>
}

// -----

// f32 operands with a 16-bit output: only f32 or the operands' type.
func.func @init_type_narrower(%rows: memref<256x64xf32>, %offsets: memref<9xi64>, %w: memref<8x128x64xf32>, %init: memref<256x128xbf16>) {
  // expected-error @+1 {{'init' element type 'bf16' must be f32 or the element type 'f32' of 'rows'}}
  moe.grouped_matmul %rows, %offsets weight %w outs(%init)
      : memref<256x64xf32>, memref<9xi64>, memref<8x128x64xf32> outs memref<256x128xbf16>
  return
}

// -----

func.func @gate_type(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %g: tensor<4x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{'gate' type 'tensor<4x128x64xbf16>' differs from 'weight' type 'tensor<8x128x64xbf16>'}}
  %h = moe.grouped_matmul %rows, %offsets weight %w gate %g activation silu outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> gate tensor<4x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @gate_without_activation(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %g: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{a 'gate' needs an activation}}
  %h = moe.grouped_matmul %rows, %offsets weight %w gate %g outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> gate tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @activation_without_gate(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{an activation applies only with a 'gate'}}
  %h = moe.grouped_matmul %rows, %offsets weight %w activation silu outs(%init)
      : tensor<256x64xbf16>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @gather_without_slots(%x: tensor<128x64xbf16>, %sources: tensor<256xi32>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{'gather' needs both sources and slots}}
  %h = "moe.grouped_matmul"(%x, %sources, %offsets, %w, %init) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1>}>
      : (tensor<128x64xbf16>, tensor<256xi32>, tensor<9xi64>, tensor<8x128x64xbf16>, tensor<256x128xbf16>) -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @gather_sources_rank(%x: tensor<128x64xbf16>, %sources: tensor<256x1xi32>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{'sources' must have rank 1 ([R]), got 2}}
  %h = moe.grouped_matmul %x gather %sources slots 2, %offsets weight %w outs(%init)
      : tensor<128x64xbf16> gather tensor<256x1xi32>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @gather_rows(%x: tensor<128x64xbf16>, %sources: tensor<200xi32>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{'init' dimension 0 is 256, expected 200 (the sources)}}
  %h = moe.grouped_matmul %x gather %sources slots 2, %offsets weight %w outs(%init)
      : tensor<128x64xbf16> gather tensor<200xi32>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}

// -----

func.func @gather_slots(%x: tensor<128x64xbf16>, %sources: tensor<256xi32>, %offsets: tensor<9xi64>, %w: tensor<8x128x64xbf16>, %init: tensor<256x128xbf16>) -> tensor<256x128xbf16> {
  // expected-error @+1 {{attribute 'slots' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %h = moe.grouped_matmul %x gather %sources slots 0, %offsets weight %w outs(%init)
      : tensor<128x64xbf16> gather tensor<256xi32>, tensor<9xi64>, tensor<8x128x64xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
  return %h : tensor<256x128xbf16>
}
