// Tests that moe-cpu-pipeline compiles examples/composition.mlir: the private
// expert models are lowered (no moe op left, bodies bufferized to memrefs and
// then LLVM functions without C interfaces), and the public composition calls
// them on memrefs from an index_switch on the per-request argmax.
// Numerics: test/e2e/cpu-composition.test.

// RUN: moe-opt %moe_src_root/examples/composition.mlir \
// RUN:   --pass-pipeline='builtin.module(moe-cpu-pipeline{lower-to-llvm=false})' \
// RUN:   | FileCheck %s --check-prefix=LOOPS --implicit-check-not='= moe.'
// RUN: moe-opt %moe_src_root/examples/composition.mlir \
// RUN:   --pass-pipeline='builtin.module(moe-cpu-pipeline)' \
// RUN:   | FileCheck %s --check-prefix=LLVM

// LOOPS-LABEL: func.func private @chat(%{{.*}}: memref<16x64xf32>) -> memref<16x64xf32>
// LOOPS-LABEL: func.func private @coder(%{{.*}}: memref<16x64xf32>) -> memref<16x64xf32>
// LOOPS-LABEL: func.func private @math(%{{.*}}: memref<16x64xf32>) -> memref<16x64xf32>
// LOOPS-LABEL: func.func @composition_of_experts(%{{.*}}: memref<4x3xf32>, %{{.*}}: memref<4x16x64xf32>) -> memref<4x16x64xf32>
// LOOPS-SAME:    llvm.emit_c_interface
// LOOPS:         scf.for
// LOOPS:           arith.cmpf ogt
// LOOPS:           scf.index_switch %{{.*}} -> memref<16x64xf32>
// LOOPS:           case 0 {
// LOOPS:             func.call @chat(%{{.*}}) : (memref<16x64xf32>) -> memref<16x64xf32>
// LOOPS:           case 1 {
// LOOPS:             func.call @coder(
// LOOPS:           case 2 {
// LOOPS:             func.call @math(
// LOOPS:           default {
// LOOPS:             func.call @math(

// LLVM-DAG: llvm.func @chat({{.*}}sym_visibility = "private"
// LLVM-DAG: llvm.func @coder({{.*}}sym_visibility = "private"
// LLVM-DAG: llvm.func @math({{.*}}sym_visibility = "private"
// LLVM-DAG: llvm.func @_mlir_ciface_composition_of_experts(
// LLVM-DAG: llvm.call @chat(
// LLVM-DAG: llvm.call @coder(
// LLVM-DAG: llvm.call @math(
// LLVM-NOT: _mlir_ciface_chat
