// RUN: moe-opt %s --convert-moe-to-parallel-linalg=tensor-cores=true -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-parallel-linalg -split-input-file | FileCheck %s --check-prefix=NOTC

// Tests that with tensor-cores a gated out_in bf16 moe.experts whose sizes fit
// the tensor-core tiles becomes two moe.grouped_matmul (SwiGLU in the first),
// on zero-filled inits, and that other experts keep the per-element form.

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
