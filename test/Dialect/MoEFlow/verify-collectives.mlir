// RUN: moe-opt %s --moeflow-verify-collectives | FileCheck %s

// Tests programs whose ranks provably issue matching collectives: the pass
// accepts them and changes nothing.

shard.grid @grid(shape = 2x4)

// Tests collectives outside any control flow, over one and two axes, with
// ragged (dynamic) rows.
// CHECK-LABEL: func.func @straight_line
// CHECK: moeflow.all_reduce
// CHECK: moeflow.all_to_all_v
// CHECK: moeflow.reduce_scatter
func.func @straight_line(%x: tensor<16x64xf32>, %rows: tensor<?x64xbf16>, %counts: tensor<4xi64>) -> (tensor<16x64xf32>, tensor<256x64xbf16>, tensor<4x64xf32>) {
  %y = moeflow.all_reduce %x group @grid axes [0, 1] reduction sum : tensor<16x64xf32>
  %out, %recv = moeflow.all_to_all_v %rows, %counts group @grid axes [1]
      : tensor<?x64xbf16>, tensor<4xi64> -> (tensor<256x64xbf16>, tensor<4xi64>)
  %part = moeflow.reduce_scatter %y group @grid axes [1] dim 0 reduction sum : tensor<16x64xf32> -> tensor<4x64xf32>
  return %y, %out, %part : tensor<16x64xf32>, tensor<256x64xbf16>, tensor<4x64xf32>
}

// Tests rank-dependent branches that issue the same collective from different
// ops, a ring of relative sends and receives, a loop with a constant trip
// count, and a pipeline edge (absolute peers) chosen by the rank's coordinate.
// CHECK-LABEL: func.func @branches_and_ring
func.func @branches_and_ring(%x: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %idx:2 = shard.process_multi_index on @grid : index, index
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %rem = arith.remui %idx#1, %c2 : index
  %even = arith.cmpi eq, %rem, %c0 : index
  %r = scf.if %even -> tensor<16x64xf32> {
    %a = moeflow.all_gather %x group @grid axes [1] dim 0 : tensor<16x64xf32> -> tensor<64x64xf32>
    %s = tensor.extract_slice %a[0, 0] [16, 64] [1, 1] : tensor<64x64xf32> to tensor<16x64xf32>
    scf.yield %s : tensor<16x64xf32>
  } else {
    %b = moeflow.all_gather %x group @grid axes [1] dim 0 : tensor<16x64xf32> -> tensor<64x64xf32>
    %s = tensor.extract_slice %b[16, 0] [16, 64] [1, 1] : tensor<64x64xf32> to tensor<16x64xf32>
    scf.yield %s : tensor<16x64xf32>
  }
  moeflow.send %r group @grid axes [1] to offset 1 : tensor<16x64xf32>
  %in = moeflow.recv group @grid axes [1] from offset -1 : tensor<16x64xf32>
  %acc = scf.for %i = %c0 to %c3 step %c1 iter_args(%v = %in) -> tensor<16x64xf32> {
    %w = moeflow.all_reduce %v group @grid axes [0] reduction sum : tensor<16x64xf32>
    scf.yield %w : tensor<16x64xf32>
  }
  %first = arith.cmpi eq, %idx#0, %c0 : index
  %out = scf.if %first -> tensor<16x64xf32> {
    moeflow.send %acc group @grid axes [0] to 1 : tensor<16x64xf32>
    scf.yield %acc : tensor<16x64xf32>
  } else {
    %z = moeflow.recv group @grid axes [0] from 0 : tensor<16x64xf32>
    scf.yield %z : tensor<16x64xf32>
  }
  return %out : tensor<16x64xf32>
}

// Tests a trip count computed from the grid (shard.grid_shape), a while loop,
// a switch on the linear index, and a helper whose collectives run under its
// caller's rank: rank r runs r % 4 + 1 rounds of an all-reduce over axis 0,
// the same on both members of each axis-0 group.
// CHECK-LABEL: func.func @loops_switch_call
func.func @loops_switch_call(%x: tensor<8xf32>) -> tensor<8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n:2 = shard.grid_shape @grid : index, index
  %y = scf.for %i = %c0 to %n#0 step %c1 iter_args(%v = %x) -> tensor<8xf32> {
    %w = moeflow.all_reduce %v group @grid axes [0, 1] reduction max : tensor<8xf32>
    scf.yield %w : tensor<8xf32>
  }
  %lin = shard.process_linear_index on @grid : index
  %col = arith.remui %lin, %n#1 : index
  %rounds = arith.addi %col, %c1 : index
  %z:2 = scf.while (%k = %c0, %v = %y) : (index, tensor<8xf32>) -> (index, tensor<8xf32>) {
    %more = arith.cmpi ult, %k, %rounds : index
    scf.condition(%more) %k, %v : index, tensor<8xf32>
  } do {
  ^bb0(%k: index, %v: tensor<8xf32>):
    %w = func.call @helper(%v) : (tensor<8xf32>) -> tensor<8xf32>
    %next = arith.addi %k, %c1 : index
    scf.yield %next, %w : index, tensor<8xf32>
  }
  %s = scf.index_switch %col -> tensor<8xf32>
  case 0 {
    %a = moeflow.all_gather %z#1 group @grid axes [0] dim 0 : tensor<8xf32> -> tensor<16xf32>
    %e = tensor.extract_slice %a[0] [8] [1] : tensor<16xf32> to tensor<8xf32>
    scf.yield %e : tensor<8xf32>
  }
  default {
    scf.yield %z#1 : tensor<8xf32>
  }
  return %s : tensor<8xf32>
}

func.func private @helper(%v: tensor<8xf32>) -> tensor<8xf32> {
  %w = moeflow.all_reduce %v group @grid axes [0] reduction sum : tensor<8xf32>
  return %w : tensor<8xf32>
}

// Tests unstructured control flow (cf.cond_br) on the rank's coordinate.
// CHECK-LABEL: func.func @unstructured
func.func @unstructured(%x: tensor<8xf32>) -> tensor<8xf32> {
  %idx = shard.process_multi_index on @grid axes = [0] : index
  %c0 = arith.constant 0 : index
  %top = arith.cmpi eq, %idx, %c0 : index
  cf.cond_br %top, ^send, ^recv
^send:
  moeflow.send %x group @grid axes [0] to offset 1 : tensor<8xf32>
  cf.br ^done(%x : tensor<8xf32>)
^recv:
  %r = moeflow.recv group @grid axes [0] from offset 1 : tensor<8xf32>
  cf.br ^done(%r : tensor<8xf32>)
^done(%out: tensor<8xf32>):
  return %out : tensor<8xf32>
}

// Tests that data-dependent control flow without collectives is fine.
// CHECK-LABEL: func.func @data_dependent_compute
func.func @data_dependent_compute(%x: tensor<8xf32>, %flag: i1) -> tensor<8xf32> {
  %y = scf.if %flag -> tensor<8xf32> {
    %d = arith.addf %x, %x : tensor<8xf32>
    scf.yield %d : tensor<8xf32>
  } else {
    scf.yield %x : tensor<8xf32>
  }
  %z = moeflow.all_reduce %y group @grid axes [1] reduction sum : tensor<8xf32>
  return %z : tensor<8xf32>
}
