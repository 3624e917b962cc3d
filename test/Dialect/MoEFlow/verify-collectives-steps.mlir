// RUN: moe-opt %s -verify-diagnostics --moeflow-verify-collectives="max-steps=50"
// RUN: not moe-opt %s --moeflow-verify-collectives="max-steps=0" 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: moe-opt %s --moeflow-verify-collectives | FileCheck %s --check-prefix=DEFAULT

// Tests that the evaluation gives up after max-steps operations per rank
// (a loop too long to unroll) with a "cannot prove" error, that max-steps
// must be positive, and that the default budget unrolls this loop.
// ZERO: error: moeflow-verify-collectives option max-steps must be positive, got 0
// DEFAULT-LABEL: func.func @long_loop
shard.grid @grid(shape = 2)
func.func @long_loop(%x: tensor<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c100 = arith.constant 100 : index
  scf.for %i = %c0 to %c100 step %c1 {
    // expected-error @+1 {{cannot prove that the ranks of @grid issue matching collectives: evaluating rank 0 (coordinates [0]) takes more than max-steps (50) operations (a loop too long to unroll?)}}
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
  }
  return
}
