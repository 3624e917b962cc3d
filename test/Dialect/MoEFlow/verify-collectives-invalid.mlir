// RUN: moe-opt %s -split-input-file -verify-diagnostics --moeflow-verify-collectives

// Tests that ranks of one group issuing different collective kinds are
// reported on one rank's op, naming both ranks, with a note on the other's.
shard.grid @grid(shape = 2x4)
func.func @kind(%x: tensor<16x64xf32>) {
  %idx:2 = shard.process_multi_index on @grid : index, index
  %c0 = arith.constant 0 : index
  %first = arith.cmpi eq, %idx#1, %c0 : index
  scf.if %first {
    // expected-note @+1 {{rank 0 (coordinates [0, 0]) issues this collective}}
    %a = moeflow.all_reduce %x group @grid axes [1] reduction sum : tensor<16x64xf32>
  } else {
    // expected-error @+1 {{rank 1 (coordinates [0, 1]) and rank 0 (coordinates [0, 0]) disagree on their collective #0 over group @grid axes [1]: this is 'moeflow.all_gather', rank 0 issues 'moeflow.all_reduce'}}
    %b = moeflow.all_gather %x group @grid axes [1] dim 0 : tensor<16x64xf32> -> tensor<64x64xf32>
  }
  return
}

// -----

// Tests that the members must list the group's axes in the same order.
shard.grid @grid(shape = 2x2)
func.func @axes_order(%x: tensor<8xf32>) {
  %lin = shard.process_linear_index on @grid : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %lin, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{rank 0 (coordinates [0, 0]) issues this collective}}
    %a = moeflow.all_reduce %x group @grid axes [0, 1] reduction sum : tensor<8xf32>
  } else {
    // expected-error @+1 {{rank 1 (coordinates [0, 1]) and rank 0 (coordinates [0, 0]) disagree on their collective #0 over group @grid axes [1, 0]: the group's axes are listed as [1, 0] here, [0, 1] on rank 0 (member indices would differ)}}
    %b = moeflow.all_reduce %x group @grid axes [1, 0] reduction sum : tensor<8xf32>
  }
  return
}

// -----

// Tests that all-gather inputs must have the same shape on every member.
shard.grid @grid(shape = 2)
func.func @all_gather_shape(%x: tensor<4x8xf32>, %y: tensor<4x16xf32>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %idx, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{rank 0 (coordinates [0]) issues this collective}}
    %a = moeflow.all_gather %x group @grid axes [0] dim 0 : tensor<4x8xf32> -> tensor<8x8xf32>
  } else {
    // expected-error @+1 {{disagree on their collective #0 over group @grid axes [0]: 'input' is 'tensor<4x16xf32>' here, 'tensor<4x8xf32>' on rank 0}}
    %b = moeflow.all_gather %y group @grid axes [0] dim 0 : tensor<4x16xf32> -> tensor<8x16xf32>
  }
  return
}

// -----

// Tests that all-gather members must gather along the same dimension.
shard.grid @grid(shape = 2)
func.func @all_gather_dim(%x: tensor<4x4xf32>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %idx, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{issues this collective}}
    %a = moeflow.all_gather %x group @grid axes [0] dim 0 : tensor<4x4xf32> -> tensor<8x4xf32>
  } else {
    // expected-error @+1 {{'dim' is 1 here, 0 on rank 0}}
    %b = moeflow.all_gather %x group @grid axes [0] dim 1 : tensor<4x4xf32> -> tensor<4x8xf32>
  }
  return
}

// -----

// Tests that reduce-scatter members must use the same reduction.
shard.grid @grid(shape = 2)
func.func @reduce_scatter_reduction(%x: tensor<4x4xf32>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %idx, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{issues this collective}}
    %a = moeflow.reduce_scatter %x group @grid axes [0] dim 0 reduction sum : tensor<4x4xf32> -> tensor<2x4xf32>
  } else {
    // expected-error @+1 {{the reduction is max here, sum on rank 0}}
    %b = moeflow.reduce_scatter %x group @grid axes [0] dim 0 reduction max : tensor<4x4xf32> -> tensor<2x4xf32>
  }
  return
}

// -----

// Tests that all-reduce members must reduce the same type.
shard.grid @grid(shape = 2)
func.func @all_reduce_type(%x: tensor<8xf32>, %y: tensor<8xbf16>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %idx, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{issues this collective}}
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
  } else {
    // expected-error @+1 {{'input' is 'tensor<8xbf16>' here, 'tensor<8xf32>' on rank 0}}
    %b = moeflow.all_reduce %y group @grid axes [0] reduction sum : tensor<8xbf16>
  }
  return
}

// -----

// Tests that all-to-all-v members must send rows of the same shape.
shard.grid @grid(shape = 2)
func.func @all_to_all_v_rows(%x: tensor<?x8xf32>, %y: tensor<?x16xf32>, %counts: tensor<2xi64>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %idx, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{issues this collective}}
    %a, %ra = moeflow.all_to_all_v %x, %counts group @grid axes [0] : tensor<?x8xf32>, tensor<2xi64> -> (tensor<32x8xf32>, tensor<2xi64>)
  } else {
    // expected-error @+1 {{'input' (compared on its trailing dimensions) is 'tensor<?x16xf32>' here, 'tensor<?x8xf32>' on rank 0}}
    %b, %rb = moeflow.all_to_all_v %y, %counts group @grid axes [0] : tensor<?x16xf32>, tensor<2xi64> -> (tensor<32x16xf32>, tensor<2xi64>)
  }
  return
}

// -----

// Tests that all-to-all-v members must exchange counts of the same type.
shard.grid @grid(shape = 2)
func.func @all_to_all_v_counts(%x: tensor<?x8xf32>, %c64: tensor<2xi64>, %c32: tensor<2xi32>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %idx, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{issues this collective}}
    %a, %ra = moeflow.all_to_all_v %x, %c64 group @grid axes [0] : tensor<?x8xf32>, tensor<2xi64> -> (tensor<32x8xf32>, tensor<2xi64>)
  } else {
    // expected-error @+1 {{'send_counts' is 'tensor<2xi32>' here, 'tensor<2xi64>' on rank 0}}
    %b, %rb = moeflow.all_to_all_v %x, %c32 group @grid axes [0] : tensor<?x8xf32>, tensor<2xi32> -> (tensor<32x8xf32>, tensor<2xi32>)
  }
  return
}

// -----

// Tests that all-to-all-v members must have the same receive capacity.
shard.grid @grid(shape = 2)
func.func @all_to_all_v_capacity(%x: tensor<?x8xf32>, %counts: tensor<2xi64>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %idx, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{issues this collective}}
    %a, %ra = moeflow.all_to_all_v %x, %counts group @grid axes [0] : tensor<?x8xf32>, tensor<2xi64> -> (tensor<32x8xf32>, tensor<2xi64>)
  } else {
    // expected-error @+1 {{the receive capacity is 64 rows here, 32 on rank 0}}
    %b, %rb = moeflow.all_to_all_v %x, %counts group @grid axes [0] : tensor<?x8xf32>, tensor<2xi64> -> (tensor<64x8xf32>, tensor<2xi64>)
  }
  return
}

// -----

// Tests that a member issuing more collectives over a group than another is
// reported on its extra collective.
shard.grid @grid(shape = 2x4)
func.func @extra_collective(%x: tensor<8xf32>) {
  %lin = shard.process_linear_index on @grid : index
  %c5 = arith.constant 5 : index
  %is5 = arith.cmpi eq, %lin, %c5 : index
  scf.if %is5 {
    // expected-error @+1 {{rank 5 (coordinates [1, 1]) issues this collective as its #0 over group @grid axes [1], but rank 4 (coordinates [1, 0]) issues only 0 collective(s) over that group}}
    %a = moeflow.all_reduce %x group @grid axes [1] reduction sum : tensor<8xf32>
  }
  return
}

// -----

// Tests that a group's first member issuing more collectives than another is
// reported on the first member's extra collective (loop trip counts that
// differ).
shard.grid @grid(shape = 2)
func.func @longer_reference(%x: tensor<8xf32>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %n = arith.subi %c2, %idx : index
  scf.for %i = %c0 to %n step %c1 {
    // expected-error @+1 {{rank 0 (coordinates [0]) issues this collective as its #1 over group @grid axes [0], but rank 1 (coordinates [1]) issues only 1 collective(s) over that group}}
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
  }
  return
}

// -----

// Tests that a receive must name the type of the matching send.
shard.grid @grid(shape = 2)
func.func @p2p_type(%x: tensor<8xf32>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %zero = arith.cmpi eq, %idx, %c0 : index
  scf.if %zero {
    // expected-note @+1 {{rank 0 (coordinates [0]) sends it here}}
    moeflow.send %x group @grid axes [0] to 1 : tensor<8xf32>
  } else {
    // expected-error @+1 {{rank 1 (coordinates [1]) receives 'tensor<16xf32>' as message #0 from rank 0 (coordinates [0]) over group @grid axes [0], which sends 'tensor<8xf32>'}}
    %r = moeflow.recv group @grid axes [0] from 0 : tensor<16xf32>
  }
  return
}

// -----

// Tests that a send without a matching receive is reported.
shard.grid @grid(shape = 2)
func.func @unmatched_send(%x: tensor<8xf32>) {
  // expected-error @+1 {{rank 0 (coordinates [0]) sends message #0 to rank 1 (coordinates [1]) over group @grid axes [0], but that rank posts only 0 matching receive(s)}}
  moeflow.send %x group @grid axes [0] to offset 1 : tensor<8xf32>
  return
}

// -----

// Tests that a receive without a matching send is reported.
shard.grid @grid(shape = 2)
func.func @unmatched_recv(%x: tensor<8xf32>) {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c1 = arith.constant 1 : index
  %one = arith.cmpi eq, %idx, %c1 : index
  scf.if %one {
    // expected-error @+1 {{rank 1 (coordinates [1]) waits for message #0 from rank 0 (coordinates [0]) over group @grid axes [0], but that rank sends only 0 message(s)}}
    %r = moeflow.recv group @grid axes [0] from 0 : tensor<8xf32>
  }
  return
}

// -----

// Tests that a ring where every rank receives before it sends deadlocks.
shard.grid @grid(shape = 4)
func.func @ring_deadlock(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+2 {{the ranks of @grid can deadlock: rank 0 (coordinates [0]) waits here for rank 3 (coordinates [3]), which waits for another collective first}}
  // expected-note @+1 {{rank 3 (coordinates [3]) waits here}}
  %in = moeflow.recv group @grid axes [0] from offset -1 : tensor<8xf32>
  moeflow.send %x group @grid axes [0] to offset 1 : tensor<8xf32>
  return %in : tensor<8xf32>
}

// -----

// Tests that collectives over two groups issued in orders that form a cycle
// deadlock: ranks with an even coordinate sum reduce over axis 0 first, the
// others over axis 1 first.
shard.grid @grid(shape = 2x2)
func.func @cross_group_deadlock(%x: tensor<8xf32>) {
  %idx:2 = shard.process_multi_index on @grid : index, index
  %c2 = arith.constant 2 : index
  %c0 = arith.constant 0 : index
  %sum = arith.addi %idx#0, %idx#1 : index
  %parity = arith.remui %sum, %c2 : index
  %even = arith.cmpi eq, %parity, %c0 : index
  scf.if %even {
    // expected-error @+1 {{the ranks of @grid can deadlock: rank 0 (coordinates [0, 0]) waits here for rank 2 (coordinates [1, 0]), which waits for another collective first}}
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
    %b = moeflow.all_reduce %x group @grid axes [1] reduction sum : tensor<8xf32>
  } else {
    // expected-note @+1 {{rank 2 (coordinates [1, 0]) waits here}}
    %b = moeflow.all_reduce %x group @grid axes [1] reduction sum : tensor<8xf32>
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
  }
  return
}

// -----

// Tests that a collective under a condition computed from data is a
// "cannot prove" error.
shard.grid @grid(shape = 2)
func.func @data_condition(%x: tensor<8xf32>, %flag: i1) {
  // expected-error @+1 {{cannot prove that the ranks of @grid issue matching collectives: the condition of this branch is not a compile-time constant on rank 0 (coordinates [0]), and a branch issues collectives over @grid}}
  scf.if %flag {
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
  }
  return
}

// -----

// Tests that a collective in a loop whose trip count is not a constant is a
// "cannot prove" error.
shard.grid @grid(shape = 2)
func.func @data_trip_count(%x: tensor<8xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{cannot prove that the ranks of @grid issue matching collectives: the trip count of this loop is not a compile-time constant on rank 0 (coordinates [0]), and its body issues collectives over @grid}}
  scf.for %i = %c0 to %n step %c1 {
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
  }
  return
}

// -----

// Tests that a while loop whose condition is not a constant is a "cannot
// prove" error when it issues collectives.
shard.grid @grid(shape = 2)
func.func @data_while(%x: tensor<8xf32>, %flag: i1) {
  // expected-error @+1 {{cannot prove that the ranks of @grid issue matching collectives: the condition of this loop is not a compile-time constant on rank 0 (coordinates [0]), and the loop issues collectives over @grid}}
  scf.while : () -> () {
    scf.condition(%flag)
  } do {
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
    scf.yield
  }
  return
}

// -----

// Tests that a switch on a value that is not a constant is a "cannot prove"
// error when a case issues collectives.
shard.grid @grid(shape = 2)
func.func @data_switch(%x: tensor<8xf32>, %k: index) {
  // expected-error @+1 {{the value this op switches on is not a compile-time constant on rank 0 (coordinates [0]), and a case issues collectives over @grid}}
  scf.index_switch %k
  case 0 {
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
    scf.yield
  }
  default {
    scf.yield
  }
  return
}

// -----

// Tests that an unstructured branch on data is a "cannot prove" error when
// the function issues collectives.
shard.grid @grid(shape = 2)
func.func @data_branch(%x: tensor<8xf32>, %flag: i1) {
  // expected-error @+1 {{the successor of this branch is not a compile-time constant on rank 0 (coordinates [0]), and the region issues collectives over @grid}}
  cf.cond_br %flag, ^a, ^b
^a:
  %r = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
  return
^b:
  return
}

// -----

// Tests that collectives inside an op with regions the pass does not model
// are a "cannot prove" error.
shard.grid @grid(shape = 2)
func.func @unmodelled_region(%x: tensor<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  // expected-error @+1 {{this op issues collectives over @grid in regions the verifier does not model}}
  scf.parallel (%i) = (%c0) to (%c2) step (%c1) {
    %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
    scf.reduce
  }
  return
}

// -----

// Tests that recursion deeper than the pass follows is a "cannot prove"
// error when the callee issues collectives.
shard.grid @grid(shape = 2)
func.func @entry(%x: tensor<8xf32>) {
  func.call @recursive(%x) : (tensor<8xf32>) -> ()
  return
}
func.func private @recursive(%x: tensor<8xf32>) {
  %a = moeflow.all_reduce %x group @grid axes [0] reduction sum : tensor<8xf32>
  // expected-error @+1 {{calls nest deeper than 64 on rank 0 (coordinates [0]) (recursion?), and the callee issues collectives over @grid}}
  func.call @recursive(%a) : (tensor<8xf32>) -> ()
  return
}

// -----

// Tests that a grid of dynamic shape is a "cannot prove" error.
shard.grid @elastic(shape = ?x2)
func.func @dynamic_grid(%x: tensor<8xf32>) {
  // expected-error @+1 {{cannot prove that the ranks of @elastic issue matching collectives: the grid has a dynamic shape}}
  %a = moeflow.all_reduce %x group @elastic axes [1] reduction sum : tensor<8xf32>
  return
}
