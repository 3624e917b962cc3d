// RUN: not moe-opt %s --moe-place-experts 2>&1 | FileCheck %s --check-prefix=NOTRACE
// RUN: not moe-opt %s --moe-place-experts="trace=%S/Inputs/place-experts-swap.json imbalance=-0.5" 2>&1 | FileCheck %s --check-prefix=IMBALANCE
// RUN: not moe-opt %s --moe-place-experts="trace=%S/Inputs/place-experts-swap.json ep=-2" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not moe-opt %s --moe-place-experts="trace=%S/Inputs/place-experts-swap.json ep=4" 2>&1 | FileCheck %s --check-prefix=DISAGREE
// RUN: not moe-opt %s --moe-place-experts="trace=%S/Inputs/no-such-trace.json" 2>&1 | FileCheck %s --check-prefix=MISSING

// Tests that the options are checked before the trace is read, and that an
// unreadable trace is reported with its path; each message names the option.
// NOTRACE: error: moe-place-experts needs a routing trace: --moe-place-experts="trace=PATH"
// IMBALANCE: error: moe-place-experts option imbalance must be a finite number >= 0, got -0.5
// NEGATIVE: error: moe-place-experts option ep must not be negative, got -2
// DISAGREE: error: moe-place-experts option ep (4) disagrees with the module's 'moe.parallel' plan (ep = 2)
// MISSING: error: cannot read routing trace '{{.*}}no-such-trace.json': {{[Nn]}}o such file or directory
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @two_layers(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %u2: tensor<4x16x8xf32>, %d2: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    %z = moe.layer %y router %r experts up %u2 down %d2 routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    return %z : tensor<4x8xf32>
  }
}
