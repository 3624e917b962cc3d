// RUN: moe-opt %s --convert-moe-to-parallel-linalg=tensor-cores=true -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-parallel-linalg -split-input-file | FileCheck %s --check-prefix=NOTC
// RUN: moe-opt %s --convert-moe-to-parallel-linalg="tensor-cores=true gather-max-columns=64" -split-input-file | FileCheck %s --check-prefix=WIDE
// RUN: not moe-opt %s --convert-moe-to-parallel-linalg="gather-max-columns=-1" 2>&1 | FileCheck %s --check-prefix=BADOPTION
// BADOPTION: gather-max-columns

// Tests that with tensor-cores a gated out_in bf16 moe.experts whose sizes fit
// the tensor-core tiles becomes two moe.grouped_matmul (SwiGLU in the first),
// on zero-filled inits, and that other experts keep the per-element form; and
// that the router logits GEMM (f32 matmul with B transposed) becomes a
// one-group moe.grouped_matmul with an f32 output where the kernel takes it.

// CHECK-LABEL: func.func @fits
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK: %[[H0:.*]] = linalg.fill ins(%[[ZERO]] : bf16) outs(%{{.*}} : tensor<256x256xbf16>)
// CHECK: %[[H:.*]] = moe.grouped_matmul %arg0, %arg1 weight %arg3 gate %arg2 activation silu outs(%[[H0]]) : tensor<256x128xbf16>, tensor<9xi64>, tensor<8x256x128xbf16> gate tensor<8x256x128xbf16> outs tensor<256x256xbf16> -> tensor<256x256xbf16>
// CHECK: %[[Y0:.*]] = linalg.fill ins(%[[ZERO]] : bf16) outs(%{{.*}} : tensor<256x128xbf16>)
// CHECK: %[[Y:.*]] = moe.grouped_matmul %[[H]], %arg1 weight %arg4 outs(%[[Y0]]) : tensor<256x256xbf16>, tensor<9xi64>, tensor<8x128x256xbf16> outs tensor<256x128xbf16> -> tensor<256x128xbf16>
// CHECK: return %[[Y]]
// NOTC-LABEL: func.func @fits
// NOTC-NOT: moe.grouped_matmul
// NOTC: linalg.generic
func.func @fits(%rows: tensor<256x128xbf16>, %offsets: tensor<9xi64>, %wg: tensor<8x256x128xbf16>, %wu: tensor<8x256x128xbf16>, %wd: tensor<8x128x256xbf16>) -> tensor<256x128xbf16> {
  %y = moe.experts %rows, %offsets gate %wg up %wu down %wd activation silu layout out_in
      : (tensor<256x128xbf16>, tensor<9xi64>, tensor<8x256x128xbf16>, tensor<8x256x128xbf16>,
         tensor<8x128x256xbf16>) -> tensor<256x128xbf16>
  return %y : tensor<256x128xbf16>
}

// -----

// The in_out layout (weights [in, out]) has no tensor-core kernel yet.
// CHECK-LABEL: func.func @in_out
// CHECK-NOT: moe.grouped_matmul
// CHECK: linalg.generic
func.func @in_out(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %wg: tensor<8x64x128xbf16>, %wu: tensor<8x64x128xbf16>, %wd: tensor<8x128x64xbf16>) -> tensor<256x64xbf16> {
  %y = moe.experts %rows, %offsets gate %wg up %wu down %wd activation silu layout in_out
      : (tensor<256x64xbf16>, tensor<9xi64>, tensor<8x64x128xbf16>, tensor<8x64x128xbf16>,
         tensor<8x128x64xbf16>) -> tensor<256x64xbf16>
  return %y : tensor<256x64xbf16>
}

// -----

// f32 experts stay on the per-element kernels (no f32 wgmma path).
// CHECK-LABEL: func.func @f32
// CHECK-NOT: moe.grouped_matmul
func.func @f32(%rows: tensor<256x64xf32>, %offsets: tensor<9xi64>, %wg: tensor<8x128x64xf32>, %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>) -> tensor<256x64xf32> {
  %y = moe.experts %rows, %offsets gate %wg up %wu down %wd activation silu layout out_in
      : (tensor<256x64xf32>, tensor<9xi64>, tensor<8x128x64xf32>, tensor<8x128x64xf32>,
         tensor<8x64x128xf32>) -> tensor<256x64xf32>
  return %y : tensor<256x64xf32>
}

// -----

// An intermediate size the 128-column tiles do not divide.
// CHECK-LABEL: func.func @ragged_tiles
// CHECK-NOT: moe.grouped_matmul
func.func @ragged_tiles(%rows: tensor<256x64xbf16>, %offsets: tensor<9xi64>, %wg: tensor<8x96x64xbf16>, %wu: tensor<8x96x64xbf16>, %wd: tensor<8x64x96xbf16>) -> tensor<256x64xbf16> {
  %y = moe.experts %rows, %offsets gate %wg up %wu down %wd activation silu layout out_in
      : (tensor<256x64xbf16>, tensor<9xi64>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>,
         tensor<8x64x96xbf16>) -> tensor<256x64xbf16>
  return %y : tensor<256x64xbf16>
}

// -----

// A whole bf16 layer: the router logits [T, E] = x · W_r^T become one group
// (offsets [0, T], W_r as [1, E, H]) into the same zero-filled f32 logits;
// E = 8 is no multiple of the column tile (the kernel masks). moe.router
// then reads the f32 logits as before. Three grouped GEMMs in all.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[X:.*]]: tensor<64x128xbf16>, %[[ROUTER:.*]]: tensor<8x128xbf16>,
// CHECK-DAG: %[[WHOLE:.*]] = arith.constant dense<[0, 64]> : tensor<2xi64>
// CHECK-DAG: %[[FZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<64x8xf32>
// CHECK: %[[ZEROS:.*]] = linalg.fill ins(%[[FZERO]] : f32) outs(%[[EMPTY]] : tensor<64x8xf32>)
// CHECK: %[[W:.*]] = tensor.expand_shape %[[ROUTER]] {{\[\[}}0, 1], [2]] output_shape [1, 8, 128] : tensor<8x128xbf16> into tensor<1x8x128xbf16>
// CHECK: %[[LOGITS:.*]] = moe.grouped_matmul %[[X]], %[[WHOLE]] weight %[[W]] outs(%[[ZEROS]]) : tensor<64x128xbf16>, tensor<2xi64>, tensor<1x8x128xbf16> outs tensor<64x8xf32> -> tensor<64x8xf32>
// CHECK-NOT: linalg.matmul
// CHECK: tensor.extract %[[LOGITS]]
// The first expert GEMM reads the tokens through the dispatch's sources
// (moe-fuse), so the dispatch's rows go unused.
// CHECK: moe.grouped_matmul %[[X]] gather %{{.*}} slots 2, %{{.*}} weight {{.*}} gate {{.*}} activation silu
// CHECK: moe.grouped_matmul
// CHECK-NOT: moe.grouped_matmul
// NOTC-LABEL: func.func @layer
// NOTC-NOT: moe.grouped_matmul
// With gather-max-columns below F = 128 the gather stays the dispatch's.
// WIDE-LABEL: func.func @layer
// WIDE: moe.grouped_matmul %[[ROWS:[a-z0-9_]+]], %{{.*}} weight {{.*}} gate {{.*}} activation silu
// WIDE-NOT: gather
func.func @layer(%x: tensor<64x128xbf16>, %router: tensor<8x128xbf16>,
                 %gate: tensor<8x128x128xbf16>, %up: tensor<8x128x128xbf16>,
                 %down: tensor<8x128x128xbf16>) -> tensor<64x128xbf16> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<64x128xbf16>, tensor<8x128xbf16>, tensor<8x128x128xbf16>,
         tensor<8x128x128xbf16>, tensor<8x128x128xbf16>) -> tensor<64x128xbf16>
  return %y : tensor<64x128xbf16>
}

// -----

// f16, any T (rows past T are the kernel's zero fill) and E = 60.
#transposed_b_lhs = affine_map<(m, n, k) -> (m, k)>
#transposed_b_rhs = affine_map<(m, n, k) -> (n, k)>
#transposed_b_out = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @router_f16
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} weight %{{.*}} outs(%{{.*}}) : tensor<37x64xf16>, tensor<2xi64>, tensor<1x60x64xf16> outs tensor<37x60xf32> -> tensor<37x60xf32>
func.func @router_f16(%x: tensor<37x64xf16>, %router: tensor<60x64xf16>) -> tensor<37x60xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<37x60xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<37x60xf32>) -> tensor<37x60xf32>
  %logits = linalg.matmul indexing_maps = [#transposed_b_lhs, #transposed_b_rhs, #transposed_b_out]
      ins(%x, %router : tensor<37x64xf16>, tensor<60x64xf16>) outs(%init : tensor<37x60xf32>) -> tensor<37x60xf32>
  return %logits : tensor<37x60xf32>
}

// -----

// A chain's iterations route with the leading slices W[0], W[1] of its
// [C, E, H] router weights: each logits GEMM takes the whole weight as C = 2
// groups with every token in the iteration's group (no strided view of a
// slice), and the expert GEMMs of both iterations read the same weights.
// CHECK-LABEL: func.func @chain_routers
// CHECK-SAME: (%[[X:.*]]: tensor<64x128xbf16>, %[[ROUTERS:.*]]: tensor<2x8x128xbf16>,
// CHECK-DAG: %[[FIRST:.*]] = arith.constant dense<[0, 64, 64]> : tensor<3xi64>
// CHECK-DAG: %[[SECOND:.*]] = arith.constant dense<[0, 0, 64]> : tensor<3xi64>
// CHECK: moe.grouped_matmul %[[X]], %[[FIRST]] weight %[[ROUTERS]] outs(%{{.*}}) : tensor<64x128xbf16>, tensor<3xi64>, tensor<2x8x128xbf16> outs tensor<64x8xf32> -> tensor<64x8xf32>
// CHECK-COUNT-2: moe.grouped_matmul
// CHECK: moe.grouped_matmul %{{.*}}, %[[SECOND]] weight %[[ROUTERS]] outs(%{{.*}}) : tensor<64x128xbf16>, tensor<3xi64>, tensor<2x8x128xbf16> outs tensor<64x8xf32> -> tensor<64x8xf32>
// CHECK-COUNT-2: moe.grouped_matmul
// CHECK-NOT: moe.grouped_matmul
// CHECK-NOT: linalg.matmul
func.func @chain_routers(%x: tensor<64x128xbf16>, %routers: tensor<2x8x128xbf16>,
                         %gate: tensor<8x128x128xbf16>, %up: tensor<8x128x128xbf16>,
                         %down: tensor<8x128x128xbf16>) -> tensor<64x128xbf16> {
  %y = moe.chain %x iterations 2 router %routers experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = false>
      activation silu layout out_in
      : (tensor<64x128xbf16>, tensor<2x8x128xbf16>, tensor<8x128x128xbf16>,
         tensor<8x128x128xbf16>, tensor<8x128x128xbf16>) -> tensor<64x128xbf16>
  return %y : tensor<64x128xbf16>
}

// -----

// What stays on the per-element form (linalg.generic, no grouped GEMM):
// f32 tokens, H not a multiple of 64, the in_out router weight [H, E] (not
// K-contiguous), a non-zero init (the op would overwrite what the matmul
// adds to), a slice that is not a whole leading one (a strided buffer, no
// TMA), and a matmul inside a loop (the kernel is a launch of its own).
// CHECK-LABEL: func.func @router_not_grouped
#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs_t = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
// CHECK-NOT: moe.grouped_matmul
// CHECK: return
func.func @router_not_grouped(%x32: tensor<16x64xf32>, %r32: tensor<8x64xf32>, %x: tensor<16x96xbf16>, %r: tensor<8x96xbf16>,
                              %x64: tensor<16x64xbf16>, %in_out: tensor<64x8xbf16>, %r64: tensor<8x64xbf16>,
                              %stacked: tensor<2x16x64xbf16>, %bias: tensor<16x8xf32>)
    -> (tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %empty = tensor.empty() : tensor<16x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<16x8xf32>) -> tensor<16x8xf32>
  %f32 = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out] ins(%x32, %r32 : tensor<16x64xf32>, tensor<8x64xf32>) outs(%init : tensor<16x8xf32>) -> tensor<16x8xf32>
  %h96 = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out] ins(%x, %r : tensor<16x96xbf16>, tensor<8x96xbf16>) outs(%init : tensor<16x8xf32>) -> tensor<16x8xf32>
  %io = linalg.matmul ins(%x64, %in_out : tensor<16x64xbf16>, tensor<64x8xbf16>) outs(%init : tensor<16x8xf32>) -> tensor<16x8xf32>
  %biased = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out] ins(%x64, %r64 : tensor<16x64xbf16>, tensor<8x64xbf16>) outs(%bias : tensor<16x8xf32>) -> tensor<16x8xf32>
  %slice = tensor.extract_slice %stacked[1, 8, 0] [1, 8, 64] [1, 1, 1] : tensor<2x16x64xbf16> to tensor<8x64xbf16>
  %sliced = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out] ins(%x64, %slice : tensor<16x64xbf16>, tensor<8x64xbf16>) outs(%init : tensor<16x8xf32>) -> tensor<16x8xf32>
  %looped = scf.for %i = %c0 to %c2 step %c1 iter_args(%acc = %init) -> (tensor<16x8xf32>) {
    %next = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out] ins(%x64, %r64 : tensor<16x64xbf16>, tensor<8x64xbf16>) outs(%init : tensor<16x8xf32>) -> tensor<16x8xf32>
    scf.yield %next : tensor<16x8xf32>
  }
  return %f32, %h96, %io, %biased, %sliced, %looped : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>
}
