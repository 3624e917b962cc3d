// RUN: moe-opt %s -split-input-file --convert-moeflow-to-runtime -verify-diagnostics

// Tests that group axes must be ascending (the runtime's member numbering).
shard.grid @g(shape = 2x2)
func.func @descending(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'moeflow.all_reduce' op group axes must be listed in ascending order for the runtime's group numbering (docs/multi-rank.md §1)}}
  %y = moeflow.all_reduce %x group @g axes [1, 0] reduction sum : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Tests that dynamic sizes other than the all-to-all's input rows are rejected.
shard.grid @g(shape = 2)
func.func @dynamic(%x: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{'moeflow.all_reduce' op 'input' dimension 0 is dynamic; convert-moeflow-to-runtime needs static sizes here}}
  %y = moeflow.all_reduce %x group @g axes [0] reduction sum : tensor<?xf32>
  return %y : tensor<?xf32>
}

// -----

// Tests that a reduction needs a runtime dtype.
shard.grid @g(shape = 2)
func.func @dtype(%x: tensor<4xi16>) -> tensor<4xi16> {
  // expected-error @+1 {{'moeflow.all_reduce' op element type 'i16' has no runtime dtype (f32, f16, bf16, i32, i64) to reduce}}
  %y = moeflow.all_reduce %x group @g axes [0] reduction sum : tensor<4xi16>
  return %y : tensor<4xi16>
}

// -----

// Tests that elements must have a whole-byte size.
shard.grid @g(shape = 2)
func.func @bits(%x: tensor<4xi1>) -> tensor<8xi1> {
  // expected-error @+1 {{'moeflow.all_gather' op 'input' element type 'i1' has no whole-byte size for the runtime}}
  %y = moeflow.all_gather %x group @g axes [0] dim 0 : tensor<4xi1> -> tensor<8xi1>
  return %y : tensor<8xi1>
}

// -----

// Tests that reduce-scatter only scatters along the leading dimension.
shard.grid @g(shape = 2)
func.func @scatter_dim(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'moeflow.reduce_scatter' op the runtime scatters along dimension 0 only; dimension 1 is preceded by dimension 0 of size 4}}
  %y = moeflow.reduce_scatter %x group @g axes [0] dim 1 reduction sum : tensor<4x8xf32> -> tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}

// -----

// Tests that a relative peer needs a static group size.
shard.grid @g(shape = ?)
func.func @relative(%x: tensor<4xf32>) {
  // expected-error @+1 {{'moeflow.send' op a relative peer needs the group size, but grid axis 0 of @g is dynamic}}
  moeflow.send %x group @g axes [0] to offset 1 : tensor<4xf32>
  return
}

// -----

shard.grid @g(shape = 2x2)
func.func @started_axes_order(%rows: tensor<8x4xf32>, %counts: tensor<4xi64>) {
  // expected-error @+1 {{'moeflow.all_to_all_v_start' op group axes must be listed in ascending order for the runtime's group numbering (docs/multi-rank.md §1)}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @g axes [1, 0]
      : tensor<8x4xf32>, tensor<4xi64> -> !moeflow.event<tensor<32x4xf32>, tensor<4xi64>>
  %o, %c = moeflow.wait %ev : !moeflow.event<tensor<32x4xf32>, tensor<4xi64>>
  return
}

// -----

shard.grid @g(shape = 2x2)
func.func @started_dynamic_trailing(%rows: tensor<8x?xf32>, %counts: tensor<2xi64>) {
  // expected-error @+1 {{'moeflow.all_to_all_v_start' op 'input' dimension 1 is dynamic; convert-moeflow-to-runtime needs static sizes here}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @g axes [1]
      : tensor<8x?xf32>, tensor<2xi64> -> !moeflow.event<tensor<16x?xf32>, tensor<2xi64>>
  %o, %c = moeflow.wait %ev : !moeflow.event<tensor<16x?xf32>, tensor<2xi64>>
  return
}

// -----

// Tests that only host-to-hbm prefetches lower to the runtime.
func.func @prefetch_to_sram(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'moeflow.prefetch' op only host to hbm prefetches lower to the runtime (got hbm to sram)}}
  %y = moeflow.prefetch %x from <hbm> to <sram> : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Tests that a copy back to the host is rejected too.
func.func @prefetch_to_host(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'moeflow.prefetch' op only host to hbm prefetches lower to the runtime (got hbm to host)}}
  %y = moeflow.prefetch %x from <hbm> to <host> : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Tests that a prefetch needs a static shape (its byte count is a constant).
func.func @prefetch_dynamic(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'moeflow.prefetch' op 'input' dimension 0 is dynamic; convert-moeflow-to-runtime needs static sizes here}}
  %y = moeflow.prefetch %x from <host> to <hbm> : tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// Tests that a prefetched tensor needs whole-byte elements.
func.func @prefetch_bits(%x: tensor<4xi1>) -> tensor<4xi1> {
  // expected-error @+1 {{'moeflow.prefetch' op 'input' element type 'i1' has no whole-byte size for the runtime}}
  %y = moeflow.prefetch %x from <host> to <hbm> : tensor<4xi1>
  return %y : tensor<4xi1>
}

// -----

// Tests that a byte count beyond i64 is rejected.
func.func @prefetch_too_large(%x: tensor<2097152x2097152x2097152xf32>) -> tensor<2097152x2097152x2097152xf32> {
  // expected-error @+1 {{'moeflow.prefetch' op 'input' of type 'tensor<2097152x2097152x2097152xf32>' has more bytes than an i64 counts}}
  %y = moeflow.prefetch %x from <host> to <hbm> : tensor<2097152x2097152x2097152xf32>
  return %y : tensor<2097152x2097152x2097152xf32>
}

// -----

// Tests that only host-to-hbm prefetches by expert lower to the runtime.
func.func @prefetch_experts_to_sram(%x: tensor<4x2xf32>, %i: tensor<2xi32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'moeflow.prefetch_experts' op only host to hbm prefetches lower to the runtime (got hbm to sram)}}
  %p = moeflow.prefetch_experts %x from <hbm> to <sram> : tensor<4x2xf32>
  %a = moeflow.await_experts %p routed(%i : tensor<2xi32>) : tensor<4x2xf32>
  return %a : tensor<4x2xf32>
}

// -----

// Tests that the partial copy is read through its await only.
func.func @prefetch_experts_read(%x: tensor<4x2xf32>, %i: tensor<2xi32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  // expected-error @+1 {{'moeflow.prefetch_experts' op result must have exactly one use, a moeflow.await_experts (it holds only the predicted experts until then)}}
  %p = moeflow.prefetch_experts %x from <host> to <hbm> : tensor<4x2xf32>
  %a = moeflow.await_experts %p routed(%i : tensor<2xi32>) : tensor<4x2xf32>
  // expected-note @+1 {{read here by 'func.return'}}
  return %a, %p : tensor<4x2xf32>, tensor<4x2xf32>
}

// -----

// Tests that a partial copy without an await cannot be lowered either.
func.func @prefetch_experts_no_await(%x: tensor<4x2xf32>) {
  // expected-error @+1 {{'moeflow.prefetch_experts' op result must have exactly one use, a moeflow.await_experts (it holds only the predicted experts until then)}}
  %p = moeflow.prefetch_experts %x from <host> to <hbm> : tensor<4x2xf32>
  return
}

// -----

// Tests that an await must be in the block of its prefetch (the runtime's
// start and wait pair up in program order).
func.func @await_experts_nested(%x: tensor<4x2xf32>, %i: tensor<2xi32>, %c: i1) -> tensor<4x2xf32> {
  %p = moeflow.prefetch_experts %x from <host> to <hbm> : tensor<4x2xf32>
  %r = scf.if %c -> tensor<4x2xf32> {
    // expected-error @+1 {{'moeflow.await_experts' op must be in the block of its moeflow.prefetch_experts}}
    %a = moeflow.await_experts %p routed(%i : tensor<2xi32>) : tensor<4x2xf32>
    scf.yield %a : tensor<4x2xf32>
  } else {
    scf.yield %x : tensor<4x2xf32>
  }
  return %r : tensor<4x2xf32>
}
