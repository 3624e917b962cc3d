// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Tests that a group must name a shard.grid.
func.func @group_not_a_grid(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'moeflow.all_reduce' op '@nowhere' does not name a shard.grid}}
  %y = moeflow.all_reduce %x group @nowhere axes [0] reduction sum : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

shard.grid @world(shape = 4x2)

// Tests that a group must list at least one axis.
func.func @group_no_axes(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'axes' must list at least one grid axis}}
  %y = moeflow.all_reduce %x group @world axes [] reduction sum : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

shard.grid @world(shape = 4x2)

// Tests that a group's axes must be axes of the grid.
func.func @group_axis_out_of_range(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{grid axis 2 is out of range for @world of rank 2}}
  %y = moeflow.all_reduce %x group @world axes [0, 2] reduction max : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

shard.grid @world(shape = 4x2)

// Tests that a group lists each axis once.
func.func @group_axis_twice(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{grid axis 1 is listed twice}}
  %y = moeflow.all_reduce %x group @world axes [1, 1] reduction min : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_to_all_v keeps the rank.
func.func @a2a_rank(%x: tensor<16x8xf32>, %c: tensor<4xi64>) {
  // expected-error @+1 {{'moeflow.all_to_all_v' op 'input' and 'output' must have the same rank, got 2 and 3}}
  %o, %r = moeflow.all_to_all_v %x, %c group @world axes [0] : tensor<16x8xf32>, tensor<4xi64> -> (tensor<32x8x1xf32>, tensor<4xi64>)
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_to_all_v keeps the element type.
func.func @a2a_element_type(%x: tensor<16x8xf32>, %c: tensor<4xi64>) {
  // expected-error @+1 {{'input' and 'output' must have the same element type, got 'f32' and 'bf16'}}
  %o, %r = moeflow.all_to_all_v %x, %c group @world axes [0] : tensor<16x8xf32>, tensor<4xi64> -> (tensor<32x8xbf16>, tensor<4xi64>)
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_to_all_v keeps the trailing dimensions.
func.func @a2a_trailing_dim(%x: tensor<16x8xf32>, %c: tensor<4xi64>) {
  // expected-error @+1 {{'output' dimension 1 is 16, expected 8 (as 'input')}}
  %o, %r = moeflow.all_to_all_v %x, %c group @world axes [0] : tensor<16x8xf32>, tensor<4xi64> -> (tensor<32x16xf32>, tensor<4xi64>)
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_to_all_v needs a static receive capacity.
func.func @a2a_dynamic_capacity(%x: tensor<16x8xf32>, %c: tensor<4xi64>) {
  // expected-error @+1 {{'output' leading dimension must be static (the receive capacity)}}
  %o, %r = moeflow.all_to_all_v %x, %c group @world axes [0] : tensor<16x8xf32>, tensor<4xi64> -> (tensor<?x8xf32>, tensor<4xi64>)
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_to_all_v returns counts of the type it is given.
func.func @a2a_recv_counts_type(%x: tensor<16x8xf32>, %c: tensor<4xi64>) {
  // expected-error @+1 {{'recv_counts' type 'tensor<4xi32>' must match 'send_counts' type 'tensor<4xi64>'}}
  %o, %r = moeflow.all_to_all_v %x, %c group @world axes [0] : tensor<16x8xf32>, tensor<4xi64> -> (tensor<32x8xf32>, tensor<4xi32>)
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_to_all_v has one send count per member of the group.
func.func @a2a_counts_length(%x: tensor<16x8xf32>, %c: tensor<4xi64>) {
  // expected-error @+1 {{'send_counts' has 4 entries, expected 8 (the group size)}}
  %o, %r = moeflow.all_to_all_v %x, %c group @world axes [0, 1] : tensor<16x8xf32>, tensor<4xi64> -> (tensor<32x8xf32>, tensor<4xi64>)
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_to_all_v counts are integers.
func.func @a2a_counts_float(%x: tensor<16x8xf32>, %c: tensor<4xf32>) {
  // expected-error @+1 {{operand #1 must be 1D tensor of 32-bit signless integer or 64-bit signless integer values}}
  %o, %r = moeflow.all_to_all_v %x, %c group @world axes [0] : tensor<16x8xf32>, tensor<4xf32> -> (tensor<32x8xf32>, tensor<4xf32>)
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_gather's dimension is a dimension of the input.
func.func @gather_dim_range(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{'moeflow.all_gather' op 'dim' 2 is out of range for rank 2}}
  %y = moeflow.all_gather %x group @world axes [0] dim 2 : tensor<16x8xf32> -> tensor<16x8xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_gather keeps the dimensions it does not gather.
func.func @gather_other_dim(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{'result' dimension 1 is 4, expected 8 (as 'input')}}
  %y = moeflow.all_gather %x group @world axes [0] dim 0 : tensor<16x8xf32> -> tensor<64x4xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that all_gather multiplies the gathered dimension by the group size.
func.func @gather_size(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{'result' dimension 0 is 32, expected 64 ('input' dimension 0 times the group size 4)}}
  %y = moeflow.all_gather %x group @world axes [0] dim 0 : tensor<16x8xf32> -> tensor<32x8xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that reduce_scatter's dimension is a dimension of the input.
func.func @scatter_dim_range(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{'moeflow.reduce_scatter' op 'dim' -1 is out of range for rank 2}}
  %y = moeflow.reduce_scatter %x group @world axes [0] dim -1 reduction sum : tensor<16x8xf32> -> tensor<16x8xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that reduce_scatter splits a dimension divisible by the group size.
func.func @scatter_divisible(%x: tensor<10x8xf32>) {
  // expected-error @+1 {{'input' dimension 0 is 10, not divisible by the group size 4}}
  %y = moeflow.reduce_scatter %x group @world axes [0] dim 0 reduction sum : tensor<10x8xf32> -> tensor<2x8xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that reduce_scatter divides the scattered dimension by the group size.
func.func @scatter_size(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{'result' dimension 0 is 8, expected 4 ('input' dimension 0 divided by the group size 4)}}
  %y = moeflow.reduce_scatter %x group @world axes [0] dim 0 reduction max : tensor<16x8xf32> -> tensor<8x8xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that send rejects a negative absolute peer.
func.func @send_negative_peer(%x: tensor<4xf32>) {
  // expected-error @+1 {{'moeflow.send' op absolute 'peer' must be non-negative, got -1}}
  moeflow.send %x group @world axes [0] to -1 : tensor<4xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that recv rejects a negative absolute peer.
func.func @recv_negative_peer() {
  // expected-error @+1 {{'moeflow.recv' op absolute 'peer' must be non-negative, got -2}}
  %x = moeflow.recv group @world axes [0] from -2 : tensor<4xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that send's absolute peer is a member of the group.
func.func @send_peer_range(%x: tensor<4xf32>) {
  // expected-error @+1 {{'moeflow.send' op absolute 'peer' 2 is out of range for the group size 2}}
  moeflow.send %x group @world axes [1] to 2 : tensor<4xf32>
  return
}

// -----

shard.grid @world(shape = 4x2)

// Tests that recv's absolute peer is a member of the group.
func.func @recv_peer_range() {
  // expected-error @+1 {{'moeflow.recv' op absolute 'peer' 8 is out of range for the group size 8}}
  %x = moeflow.recv group @world axes [0, 1] from 8 : tensor<4xf32>
  return
}

// -----

// Tests that a prefetch moves between two different tiers.
func.func @prefetch_same_tier(%w: tensor<4xf32>) {
  // expected-error @+1 {{'moeflow.prefetch' op 'from' and 'to' must be different tiers, both are hbm}}
  %p = moeflow.prefetch %w from <hbm> to <hbm> : tensor<4xf32>
  return
}

// -----

// Tests that a prefetch by expert moves between two different tiers.
func.func @prefetch_experts_same_tier(%w: tensor<4x8xf32>) {
  // expected-error @+1 {{'moeflow.prefetch_experts' op 'from' and 'to' must be different tiers, both are host}}
  %p = moeflow.prefetch_experts %w from <host> to <host> : tensor<4x8xf32>
  return
}

// -----

// Tests that a prefetch by expert needs a static expert dimension.
func.func @prefetch_experts_dynamic(%w: tensor<?x8xf32>) {
  // expected-error @+1 {{'moeflow.prefetch_experts' op 'input' must have a static leading (expert) dimension, got 'tensor<?x8xf32>'}}
  %p = moeflow.prefetch_experts %w from <host> to <hbm> : tensor<?x8xf32>
  return
}

// -----

// Tests that a rank-0 tensor has no experts to prefetch.
func.func @prefetch_experts_scalar(%w: tensor<f32>) {
  // expected-error @+1 {{'moeflow.prefetch_experts' op 'input' must have a static leading (expert) dimension, got 'tensor<f32>'}}
  %p = moeflow.prefetch_experts %w from <host> to <hbm> : tensor<f32>
  return
}

// -----

// Tests that the indices are i32.
func.func @prefetch_experts_i64(%w: tensor<4x8xf32>, %i: tensor<2xi64>) {
  // expected-error @+1 {{'moeflow.prefetch_experts' op operand #1 must be ranked tensor of 32-bit signless integer values, but got 'tensor<2xi64>'}}
  %p = "moeflow.prefetch_experts"(%w, %i) <{from = #moe.tier<host>, to = #moe.tier<hbm>}> : (tensor<4x8xf32>, tensor<2xi64>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that an await completes a prefetch by expert, not any tensor.
func.func @await_experts_not_prefetched(%w: tensor<4x8xf32>, %i: tensor<2xi32>) {
  // expected-error @+1 {{'moeflow.await_experts' op 'input' must be the result of a moeflow.prefetch_experts}}
  %a = moeflow.await_experts %w routed(%i : tensor<2xi32>) : tensor<4x8xf32>
  return
}
