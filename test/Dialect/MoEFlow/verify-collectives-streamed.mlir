// RUN: moe-opt %s -split-input-file -verify-diagnostics --moeflow-verify-collectives | FileCheck %s

// Started collectives (moeflow.all_to_all_v_start) are issued at their start:
// that is their place in the rank's collective order, and they match a
// blocking moeflow.all_to_all_v at the same place on another rank.

shard.grid @grid(shape = 1x2)

// Tests a streamed schedule: two chunks' dispatches in flight, the return of
// chunk 0 started before chunk 1's is waited.
// CHECK-LABEL: func.func @pipelined
// CHECK-COUNT-3: moeflow.all_to_all_v_start
func.func @pipelined(%r0: tensor<8x4xf32>, %r1: tensor<8x4xf32>, %c: tensor<2xi32>) -> (tensor<16x4xf32>, tensor<16x4xf32>) {
  %a0 = moeflow.all_to_all_v_start %r0, %c group @grid axes [1]
      : tensor<8x4xf32>, tensor<2xi32> -> !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
  %a1 = moeflow.all_to_all_v_start %r1, %c group @grid axes [1]
      : tensor<8x4xf32>, tensor<2xi32> -> !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
  %x0, %n0 = moeflow.wait %a0 : !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
  %b0 = moeflow.all_to_all_v_start %x0, %n0 group @grid axes [1]
      : tensor<16x4xf32>, tensor<2xi32> -> !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
  %x1, %n1 = moeflow.wait %a1 : !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
  %y0, %m0 = moeflow.wait %b0 : !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
  return %y0, %x1 : tensor<16x4xf32>, tensor<16x4xf32>
}

// Tests that a started all_to_all_v on one rank matches a blocking one on
// another.
// CHECK-LABEL: func.func @started_matches_blocking
func.func @started_matches_blocking(%r: tensor<8x4xf32>, %c: tensor<2xi32>) {
  %idx:2 = shard.process_multi_index on @grid : index, index
  %c0 = arith.constant 0 : index
  %first = arith.cmpi eq, %idx#1, %c0 : index
  scf.if %first {
    %e = moeflow.all_to_all_v_start %r, %c group @grid axes [1]
        : tensor<8x4xf32>, tensor<2xi32> -> !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
    %o, %n = moeflow.wait %e : !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
  } else {
    %o, %n = moeflow.all_to_all_v %r, %c group @grid axes [1]
        : tensor<8x4xf32>, tensor<2xi32> -> (tensor<16x4xf32>, tensor<2xi32>)
  }
  return
}

// -----

// Tests that the ranks must start their collectives in the same order: here
// rank 1 starts the expert ids before the rows.
shard.grid @grid(shape = 1x2)
func.func @start_order(%r: tensor<8x4xf32>, %ids: tensor<8xi32>, %c: tensor<2xi32>) {
  %idx:2 = shard.process_multi_index on @grid : index, index
  %c0 = arith.constant 0 : index
  %first = arith.cmpi eq, %idx#1, %c0 : index
  scf.if %first {
    // expected-note @+1 {{rank 0 (coordinates [0, 0]) issues this collective}}
    %a = moeflow.all_to_all_v_start %r, %c group @grid axes [1]
        : tensor<8x4xf32>, tensor<2xi32> -> !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
    %b = moeflow.all_to_all_v_start %ids, %c group @grid axes [1]
        : tensor<8xi32>, tensor<2xi32> -> !moeflow.event<tensor<16xi32>, tensor<2xi32>>
    %o, %n = moeflow.wait %a : !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
    %p, %m = moeflow.wait %b : !moeflow.event<tensor<16xi32>, tensor<2xi32>>
  } else {
    // expected-error @+1 {{rank 1 (coordinates [0, 1]) and rank 0 (coordinates [0, 0]) disagree on their collective #0 over group @grid axes [1]: 'input' (compared on its trailing dimensions) is 'tensor<8xi32>' here, 'tensor<8x4xf32>' on rank 0}}
    %b = moeflow.all_to_all_v_start %ids, %c group @grid axes [1]
        : tensor<8xi32>, tensor<2xi32> -> !moeflow.event<tensor<16xi32>, tensor<2xi32>>
    %a = moeflow.all_to_all_v_start %r, %c group @grid axes [1]
        : tensor<8x4xf32>, tensor<2xi32> -> !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
    %p, %m = moeflow.wait %b : !moeflow.event<tensor<16xi32>, tensor<2xi32>>
    %o, %n = moeflow.wait %a : !moeflow.event<tensor<16x4xf32>, tensor<2xi32>>
  }
  return
}

// -----

// Tests that a started collective's receive capacity is compared like a
// blocking one's.
shard.grid @grid(shape = 1x2)
func.func @start_capacity(%r: tensor<8x4xf32>, %c: tensor<2xi32>) {
  %idx:2 = shard.process_multi_index on @grid : index, index
  %c0 = arith.constant 0 : index
  %first = arith.cmpi eq, %idx#1, %c0 : index
  scf.if %first {
    // expected-note @+1 {{rank 0 (coordinates [0, 0]) issues this collective}}
    %o, %n = moeflow.all_to_all_v %r, %c group @grid axes [1]
        : tensor<8x4xf32>, tensor<2xi32> -> (tensor<16x4xf32>, tensor<2xi32>)
  } else {
    // expected-error @+1 {{the receive capacity is 32 rows here, 16 on rank 0}}
    %e = moeflow.all_to_all_v_start %r, %c group @grid axes [1]
        : tensor<8x4xf32>, tensor<2xi32> -> !moeflow.event<tensor<32x4xf32>, tensor<2xi32>>
    %o, %n = moeflow.wait %e : !moeflow.event<tensor<32x4xf32>, tensor<2xi32>>
  }
  return
}
