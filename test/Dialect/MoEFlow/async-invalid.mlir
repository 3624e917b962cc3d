// Every verifier message of moeflow.all_to_all_v_start and moeflow.wait.
// RUN: moe-opt %s -split-input-file -verify-diagnostics

shard.grid @world(shape = 4x2)

func.func @never_waited(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) {
  // expected-error @+1 {{the started collective must be waited exactly once, but its event has 0 uses}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  return
}

// -----

shard.grid @world(shape = 4x2)

func.func @waited_twice(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) {
  // expected-error @+1 {{the started collective must be waited exactly once, but its event has 2 uses}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  %o0, %c0 = moeflow.wait %ev : !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  %o1, %c1 = moeflow.wait %ev : !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  return
}

// -----

shard.grid @world(shape = 4x2)

func.func @event_escapes(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) -> !moeflow.event<tensor<64x8xf32>, tensor<4xi64>> {
  // expected-error @+1 {{its event is used by 'func.return'; only moeflow.wait may use it}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  return %ev : !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
}

// -----

shard.grid @world(shape = 4x2)

func.func @waited_in_a_branch(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>, %c: i1) {
  // expected-error @+1 {{must be waited in the block that starts it (a wait in a nested region may not run)}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  scf.if %c {
    %o, %r = moeflow.wait %ev : !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  }
  return
}

// -----

shard.grid @world(shape = 4x2)

func.func @event_of_one_type(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) {
  // expected-error @+1 {{the event must list the types of 'output' and 'recv_counts', got 1 type(s)}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<64x8xf32>>
  %o = moeflow.wait %ev : !moeflow.event<tensor<64x8xf32>>
  return
}

// -----

shard.grid @world(shape = 4x2)

func.func @output_not_a_tensor(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) {
  // expected-error @+1 {{the event's first type ('output') must be a ranked tensor of rank >= 1, got 'f32'}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<f32, tensor<4xi64>>
  %o, %c = moeflow.wait %ev : !moeflow.event<f32, tensor<4xi64>>
  return
}

// -----

shard.grid @world(shape = 4x2)

// The checks shared with moeflow.all_to_all_v run on the event's types.
func.func @trailing_dims_differ(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) {
  // expected-error @+1 {{'output' dimension 1 is 4, expected 8 (as 'input')}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<64x4xf32>, tensor<4xi64>>
  %o, %c = moeflow.wait %ev : !moeflow.event<tensor<64x4xf32>, tensor<4xi64>>
  return
}

// -----

shard.grid @world(shape = 4x2)

func.func @dynamic_capacity(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) {
  // expected-error @+1 {{'output' leading dimension must be static (the receive capacity)}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<?x8xf32>, tensor<4xi64>>
  %o, %c = moeflow.wait %ev : !moeflow.event<tensor<?x8xf32>, tensor<4xi64>>
  return
}

// -----

shard.grid @world(shape = 4x2)

func.func @counts_types_differ(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) {
  // expected-error @+1 {{'recv_counts' type 'tensor<4xi32>' must match 'send_counts' type 'tensor<4xi64>'}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<64x8xf32>, tensor<4xi32>>
  %o, %c = moeflow.wait %ev : !moeflow.event<tensor<64x8xf32>, tensor<4xi32>>
  return
}

// -----

shard.grid @world(shape = 4x2)

func.func @counts_for_another_group(%rows: tensor<16x8xf32>, %counts: tensor<2xi64>) {
  // expected-error @+1 {{'send_counts' has 2 entries, expected 4 (the group size)}}
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<2xi64> -> !moeflow.event<tensor<64x8xf32>, tensor<2xi64>>
  %o, %c = moeflow.wait %ev : !moeflow.event<tensor<64x8xf32>, tensor<2xi64>>
  return
}

// -----

func.func @wait_on_an_argument(%ev: !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>) {
  // expected-error @+1 {{'event' must be the result of a moeflow start op (moeflow.all_to_all_v_start)}}
  %o, %c = moeflow.wait %ev : !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  return
}

// -----

shard.grid @world(shape = 4x2)

func.func @wait_result_types_differ(%rows: tensor<16x8xf32>, %counts: tensor<4xi64>) {
  %ev = moeflow.all_to_all_v_start %rows, %counts group @world axes [0]
      : tensor<16x8xf32>, tensor<4xi64> -> !moeflow.event<tensor<64x8xf32>, tensor<4xi64>>
  // expected-error @+2 {{are incompatible with return type(s) of operation}}
  // expected-error @+1 {{failed to infer returned types}}
  %o = "moeflow.wait"(%ev) : (!moeflow.event<tensor<64x8xf32>, tensor<4xi64>>) -> tensor<64x8xf32>
  return
}
