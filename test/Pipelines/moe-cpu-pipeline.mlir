// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cpu-pipeline)' | FileCheck %s --check-prefix=LLVM
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cpu-pipeline{lower-to-llvm=false})' | FileCheck %s --check-prefix=LOOPS
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cpu-pipeline{lower-to-llvm=false emit-c-interfaces=false})' | FileCheck %s --check-prefix=NOCI
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cpu-pipeline{parallel-forms=true})' --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=FORMS
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-cpu-pipeline{parallel-forms=true tensor-cores=true})' --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=TC

// Tests the pipeline options (CPUPipelineOptions in moe/Pipelines/Pipelines.h):
// by default the layer reaches the LLVM dialect with a C interface; with
// lower-to-llvm=false it stops at bufferized scf loops on memrefs, still
// marked for a C interface unless emit-c-interfaces=false. parallel-forms
// lowers with the GPU path's forms; tensor-cores adds their moe.grouped_matmul
// ops and computes them with loops (the numerics: e2e/tensor-core-forms.test).
// FORMS: convert-moe-to-parallel-linalg{gather-max-columns=8192 tensor-cores=false},
// FORMS-NOT: convert-grouped-matmul-to-linalg
// TC: convert-moe-to-parallel-linalg{gather-max-columns=8192 tensor-cores=true},
// TC-NEXT: convert-grouped-matmul-to-linalg,
// LLVM-LABEL: llvm.func @layer
// LLVM: llvm.func @_mlir_ciface_layer
// LOOPS-LABEL: func.func @layer
// LOOPS-SAME: memref<4x8xf32>
// LOOPS-SAME: llvm.emit_c_interface
// LOOPS: scf.for
// LOOPS-NOT: = moe.
// LOOPS-NOT: llvm.
// NOCI-LABEL: func.func @layer
// NOCI-NOT: llvm.emit_c_interface
func.func @layer(%x: tensor<4x8xf32>, %router: tensor<4x8xf32>,
                 %gate: tensor<4x16x8xf32>, %up: tensor<4x16x8xf32>,
                 %down: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
  %y = moe.layer %x router %router experts gate %gate up %up down %down
      routing <scoring = softmax, top_k = 2, renormalize = true>
      activation silu layout out_in
      : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
