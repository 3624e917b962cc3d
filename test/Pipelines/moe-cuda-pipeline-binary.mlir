// REQUIRES: ptxas
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{chip=sm_90a})' | FileCheck %s
// RUN: not moe-opt %s --pass-pipeline='builtin.module(moe-cuda-pipeline{opt-level=x})' 2>&1 | FileCheck %s --check-prefix=BAD-OPTION
// BAD-OPTION: 'x' value invalid for uint argument

// The whole pipeline: host code in the LLVM dialect with a C interface, the
// kernels in a gpu.binary compiled for sm_90a by ptxas (a fatbin), launched
// through gpu.launch_func on a stream of the call. Fills of whole buffers are
// mgpuMemset32/16 calls (a bf16 value as its bits) ordered on the same stream.
// CHECK: llvm.func @mixtral_moe(
// CHECK: %[[STREAM:.*]] = llvm.call @mgpuStreamCreate()
// CHECK: llvm.call @mgpuMemAlloc({{.*}}, %[[STREAM]],
// CHECK: llvm.call @mgpuMemset32({{.*}}, %[[STREAM]])
// CHECK: gpu.launch_func <%[[LAUNCHES:.*]] : !llvm.ptr> @mixtral_moe_kernel::@mixtral_moe_kernel
// CHECK: %[[BITS:.*]] = llvm.bitcast %{{.*}} : bf16 to i16
// CHECK: llvm.call @mgpuMemset16(%{{.*}}, %[[BITS]], %{{.*}}, %[[LAUNCHES]])
// CHECK: llvm.call @mgpuStreamSynchronize(%[[LAUNCHES]])
// CHECK: llvm.func @_mlir_ciface_mixtral_moe
// CHECK: gpu.binary @mixtral_moe_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
func.func @mixtral_moe(%x: tensor<16x128xbf16>, %router: tensor<8x128xbf16>,
                       %w1: tensor<8x256x128xbf16>, %w3: tensor<8x256x128xbf16>,
                       %w2: tensor<8x128x256xbf16>) -> tensor<16x128xbf16> {
  %y = moe.layer %x router %router experts gate %w1 up %w3 down %w2
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<16x128xbf16>, tensor<8x128xbf16>, tensor<8x256x128xbf16>,
         tensor<8x256x128xbf16>, tensor<8x128x256xbf16>) -> tensor<16x128xbf16>
  return %y : tensor<16x128xbf16>
}
