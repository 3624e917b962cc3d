// Tests --moe-to-bundle --bundle-target=cuda: the header and manifest name the
// cuda-<chip> target, the kernels are a host ELF object embedding the fatbin
// and calling the runtime's mgpu* ABI, its device code loaded by constructors in
// .init_array (which dlopen runs; .ctors it would not); bad chips and targets
// are errors, and so is a target without multiprocessors. Routers compile
// with the warp kernel (default) and without it (--bundle-warp-router=false).

// REQUIRES: ptxas
// RUN: moe-translate --moe-to-bundle --bundle-target=cuda %s -o %t.bundle
// RUN: FileCheck %s --input-file=%t.bundle
// RUN: not moe-translate --moe-to-bundle --bundle-target=cuda --bundle-chip=sm_9 %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not moe-translate --moe-to-bundle --bundle-target=gpu %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not moe-translate --moe-to-bundle --bundle-target=cuda --bundle-multiprocessors=0 %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=SMS
// RUN: moe-translate --moe-to-bundle --bundle-target=cuda --bundle-multiprocessors=2 %s -o %t.2sm.bundle
// RUN: moe-translate --moe-to-bundle --bundle-target=cuda --bundle-warp-router=false %s -o %t.loop.bundle
// RUN: FileCheck %s --check-prefix=LOOP --input-file=%t.loop.bundle

// CHECK: MOEBNDL1
// CHECK-SAME: cuda-sm_90a
// CHECK: "target": "cuda-sm_90a"
// CHECK: ELF
// CHECK: mgpuLaunchKernel
// CHECK: .init_array
// CHECK: _mlir_ciface_experts
// CHECK: _mlir_ciface_route
// LOOP: _mlir_ciface_experts
// LOOP: _mlir_ciface_route

// CHIP: cuda.mlir:[[@LINE+4]]:1: error: 'sm_9' is not a CUDA chip: expected sm_<major><minor>[a], e.g. sm_90a
// TARGET: for the --bundle-target option: Cannot find option named 'gpu'!
// SMS: error: --bundle-multiprocessors must be at least 1, got 0

func.func @experts(%rows: tensor<16x16xbf16> {moe.input = "rows"}, %offsets: tensor<5xi32>, %g: tensor<4x32x16xbf16>, %u: tensor<4x32x16xbf16>, %d: tensor<4x16x32xbf16>) -> tensor<16x16xbf16> {
  %y = moe.experts %rows, %offsets gate %g up %u down %d activation silu layout out_in : (tensor<16x16xbf16>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<16x16xbf16>
  return %y : tensor<16x16xbf16>
}

func.func @route(%logits: tensor<8x64xf32> {moe.input = "logits"}) -> (tensor<8x4xbf16>, tensor<8x4xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 4, renormalize = true> : tensor<8x64xf32> -> tensor<8x4xbf16>, tensor<8x4xi32>
  return %w, %i : tensor<8x4xbf16>, tensor<8x4xi32>
}
