// Tests that moe-cpu-pipeline compiles examples/composition.mlir: the private
// expert models are lowered (no moe op left, bodies bufferized to memrefs and
// then LLVM functions without C interfaces), and the public composition calls
// them on memrefs from an index_switch on the per-request argmax, passing each
// model the request and its weights (the composition function's arguments,
// not copied).
// Numerics: test/e2e/cpu-composition.test.

// RUN: moe-opt %moe_src_root/examples/composition.mlir \
// RUN:   --pass-pipeline='builtin.module(moe-cpu-pipeline{lower-to-llvm=false})' \
// RUN:   | FileCheck %s --check-prefix=LOOPS --implicit-check-not='= moe.'
// RUN: moe-opt %moe_src_root/examples/composition.mlir \
// RUN:   --pass-pipeline='builtin.module(moe-cpu-pipeline)' \
// RUN:   | FileCheck %s --check-prefix=LLVM

// LOOPS-LABEL: func.func private @chat(%{{.*}}: memref<16x64xf32>, %{{.*}}: memref<8x64xf32>, %{{.*}}: memref<8x128x64xf32>, %{{.*}}: memref<8x128x64xf32>, %{{.*}}: memref<8x64x128xf32>) -> memref<16x64xf32>
// LOOPS-LABEL: func.func private @coder(%{{.*}}: memref<16x64xf32>, %{{.*}}: memref<16x64xf32>, {{.*}}) -> memref<16x64xf32>
// LOOPS-LABEL: func.func private @math(%{{.*}}: memref<16x64xf32>, %{{.*}}: memref<16x64xf32>, %{{.*}}: memref<16xf32>, {{.*}}) -> memref<16x64xf32>
// LOOPS-LABEL: func.func @composition_of_experts(
// LOOPS-SAME:    %{{.*}}: memref<4x3xf32>, %{{.*}}: memref<4x16x64xf32>,
// LOOPS-SAME:    %[[CHAT_ROUTER:[^:]*]]: memref<8x64xf32>, %[[CHAT_GATE:[^:]*]]: memref<8x128x64xf32>, %[[CHAT_UP:[^:]*]]: memref<8x128x64xf32>, %[[CHAT_DOWN:[^:]*]]: memref<8x64x128xf32>,
// LOOPS-SAME:    %[[CODER_ROUTER:[^:]*]]: memref<16x64xf32>, %{{[^:]*}}: memref<16x128x64xf32>, %{{[^:]*}}: memref<16x128x64xf32>, %[[CODER_DOWN:[^:]*]]: memref<16x64x128xf32>,
// LOOPS-SAME:    %[[MATH_ROUTER:[^:]*]]: memref<16x64xf32>, %[[MATH_BIAS:[^:]*]]: memref<16xf32>, {{.*}}, %[[MATH_SHARED_DOWN:[^:]*]]: memref<64x128xf32>) -> memref<4x16x64xf32>
// LOOPS-SAME:    llvm.emit_c_interface
// LOOPS:         scf.for
// LOOPS:           arith.cmpf ogt
// LOOPS:           scf.index_switch %{{.*}} -> memref<16x64xf32>
// LOOPS:           case 0 {
// LOOPS:             func.call @chat(%{{[^,]*}}, %[[CHAT_ROUTER]], %[[CHAT_GATE]], %[[CHAT_UP]], %[[CHAT_DOWN]]) : (memref<16x64xf32>, memref<8x64xf32>, memref<8x128x64xf32>, memref<8x128x64xf32>, memref<8x64x128xf32>) -> memref<16x64xf32>
// LOOPS:           case 1 {
// LOOPS:             func.call @coder(%{{[^,]*}}, %[[CODER_ROUTER]], {{.*}}, %[[CODER_DOWN]])
// LOOPS:           case 2 {
// LOOPS:             func.call @math(%{{[^,]*}}, %[[MATH_ROUTER]], %[[MATH_BIAS]], {{.*}}, %[[MATH_SHARED_DOWN]])
// LOOPS:           default {
// LOOPS:             func.call @math(%{{[^,]*}}, %[[MATH_ROUTER]], %[[MATH_BIAS]], {{.*}}, %[[MATH_SHARED_DOWN]])

// LLVM-DAG: llvm.func @chat({{.*}}sym_visibility = "private"
// LLVM-DAG: llvm.func @coder({{.*}}sym_visibility = "private"
// LLVM-DAG: llvm.func @math({{.*}}sym_visibility = "private"
// LLVM-DAG: llvm.func @_mlir_ciface_composition_of_experts(
// LLVM-DAG: llvm.call @chat(
// LLVM-DAG: llvm.call @coder(
// LLVM-DAG: llvm.call @math(
// LLVM-NOT: _mlir_ciface_chat
