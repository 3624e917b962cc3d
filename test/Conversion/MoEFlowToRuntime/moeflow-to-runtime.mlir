// RUN: moe-opt %s -split-input-file --convert-moeflow-to-runtime | FileCheck %s
// RUN: moe-opt %s -split-input-file --convert-moeflow-to-runtime | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file --convert-moeflow-to-runtime=release-prefetched=true | FileCheck %s --check-prefix=RELEASE

// Tests that a ragged all-to-all becomes one moert_comm_all_to_all_v call on
// the operand buffers and fresh result buffers, with i32 counts widened to i64
// before and narrowed after, the group as an axis mask, and the row size in
// bytes; the grid is erased once nothing refers to it.
// CHECK-NOT: shard.grid
// CHECK-DAG: func.func private @moert_comm_all_to_all_v(i32, !llvm.ptr, !llvm.ptr, i64, !llvm.ptr, !llvm.ptr, i64, i64)
// CHECK-LABEL: func.func @all_to_all_v(
// CHECK-SAME: %[[ROWS:[a-z0-9_]+]]: tensor<8x16xbf16>, %[[COUNTS:[a-z0-9_]+]]: tensor<2xi32>
// CHECK-DAG: %[[MASK:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[CAP:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[ROWBYTES:.*]] = arith.constant 32 : i64
// CHECK: %[[WIDE:.*]] = arith.extsi %[[COUNTS]] : tensor<2xi32> to tensor<2xi64>
// CHECK: %[[SEND:.*]] = bufferization.to_buffer %[[ROWS]] read_only : tensor<8x16xbf16> to memref<8x16xbf16>
// CHECK: %[[SENDC:.*]] = bufferization.to_buffer %[[WIDE]] read_only : tensor<2xi64> to memref<2xi64>
// CHECK: %[[RECV:.*]] = memref.alloc() : memref<16x16xbf16>
// CHECK: %[[RECVC:.*]] = memref.alloc() : memref<2xi64>
// CHECK: memref.extract_aligned_pointer_as_index %[[SEND]]
// CHECK: llvm.inttoptr
// CHECK: call @moert_comm_all_to_all_v(%[[MASK]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[CAP]], %[[ROWBYTES]])
// CHECK: %[[OUT:.*]] = bufferization.to_tensor %[[RECV]] restrict writable : memref<16x16xbf16> to tensor<16x16xbf16>
// CHECK: %[[OUTC:.*]] = bufferization.to_tensor %[[RECVC]] restrict writable : memref<2xi64> to tensor<2xi64>
// CHECK: %[[NARROW:.*]] = arith.trunci %[[OUTC]] : tensor<2xi64> to tensor<2xi32>
// CHECK: return %[[OUT]], %[[NARROW]]
module {
  shard.grid @g(shape = 1x2x2)
  func.func @all_to_all_v(%rows: tensor<8x16xbf16>, %counts: tensor<2xi32>) -> (tensor<16x16xbf16>, tensor<2xi32>) {
    %out, %recv = moeflow.all_to_all_v %rows, %counts group @g axes [1]
        : tensor<8x16xbf16>, tensor<2xi32> -> (tensor<16x16xbf16>, tensor<2xi32>)
    return %out, %recv : tensor<16x16xbf16>, tensor<2xi32>
  }
}

// -----

// Tests that i64 counts pass as they are, and that dynamic input rows are
// read from the buffer.
// CHECK-LABEL: func.func @dynamic_rows(
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK-NOT: arith.extsi
// CHECK: %[[SEND:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x4xf32> to memref<?x4xf32>
// CHECK: %[[DIM:.*]] = memref.dim %[[SEND]], %[[C0]]
// CHECK: %[[ROWS:.*]] = arith.index_cast %[[DIM]] : index to i64
// CHECK: call @moert_comm_all_to_all_v(%{{.*}}, %{{.*}}, %{{.*}}, %[[ROWS]],
// CHECK-NOT: arith.trunci
module {
  shard.grid @g(shape = 4)
  func.func @dynamic_rows(%rows: tensor<?x4xf32>, %counts: tensor<4xi64>) -> (tensor<32x4xf32>, tensor<4xi64>) {
    %out, %recv = moeflow.all_to_all_v %rows, %counts group @g axes [0]
        : tensor<?x4xf32>, tensor<4xi64> -> (tensor<32x4xf32>, tensor<4xi64>)
    return %out, %recv : tensor<32x4xf32>, tensor<4xi64>
  }
}

// -----

// Tests all-reduce and reduce-scatter: element counts, moert_dtype_t codes
// (f32 = 1, bf16 = 3) and the reduction codes (sum = 0, max = 1), over a
// group of two axes (mask 0b110).
// CHECK-DAG: func.func private @moert_comm_all_reduce(i32, !llvm.ptr, !llvm.ptr, i64, i32, i32)
// CHECK-DAG: func.func private @moert_comm_reduce_scatter(i32, !llvm.ptr, !llvm.ptr, i64, i32, i32)
// CHECK-LABEL: func.func @reductions(
// CHECK-DAG: %[[MASK:.*]] = arith.constant 6 : i32
// CHECK-DAG: %[[COUNT:.*]] = arith.constant 64 : i64
// CHECK-DAG: %[[F32:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[SUM:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[MASK2:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[COUNT2:.*]] = arith.constant 32 : i64
// CHECK-DAG: %[[BF16:.*]] = arith.constant 3 : i32
// CHECK: call @moert_comm_all_reduce(%[[MASK]], %{{.*}}, %{{.*}}, %[[COUNT]], %[[F32]], %[[SUM]])
// CHECK: call @moert_comm_reduce_scatter(%[[MASK2]], %{{.*}}, %{{.*}}, %[[COUNT2]], %[[BF16]], %[[F32]])
module {
  shard.grid @g(shape = 1x2x2)
  func.func @reductions(%x: tensor<4x16xf32>, %y: tensor<8x8xbf16>) -> (tensor<4x16xf32>, tensor<4x8xbf16>) {
    %a = moeflow.all_reduce %x group @g axes [1, 2] reduction sum : tensor<4x16xf32>
    %b = moeflow.reduce_scatter %y group @g axes [1] dim 0 reduction max : tensor<8x8xbf16> -> tensor<4x8xbf16>
    return %a, %b : tensor<4x16xf32>, tensor<4x8xbf16>
  }
}

// -----

// Tests all-gather along dimension 1: outer blocks (4) of block bytes (8 * 4).
// CHECK-DAG: func.func private @moert_comm_all_gather(i32, !llvm.ptr, !llvm.ptr, i64, i64)
// CHECK-LABEL: func.func @all_gather(
// CHECK-DAG: %[[MASK:.*]] = arith.constant 4 : i32
// CHECK-DAG: %[[OUTER:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[BLOCK:.*]] = arith.constant 32 : i64
// CHECK: %[[RECV:.*]] = memref.alloc() : memref<4x16xf32>
// CHECK: call @moert_comm_all_gather(%[[MASK]], %{{.*}}, %{{.*}}, %[[OUTER]], %[[BLOCK]])
// CHECK: bufferization.to_tensor %[[RECV]] restrict writable
module {
  shard.grid @g(shape = 1x1x2)
  func.func @all_gather(%x: tensor<4x8xf32>) -> tensor<4x16xf32> {
    %a = moeflow.all_gather %x group @g axes [2] dim 1 : tensor<4x8xf32> -> tensor<4x16xf32>
    return %a : tensor<4x16xf32>
  }
}

// -----

// Tests send and recv: an absolute peer is a constant; a relative one is
// (own group index + offset) mod G from the rank's grid coordinates.
// CHECK-DAG: func.func private @moert_comm_send(i32, i64, !llvm.ptr, i64)
// CHECK-DAG: func.func private @moert_comm_recv(i32, i64, !llvm.ptr, i64)
// CHECK-DAG: func.func private @moert_comm_grid_index(i32) -> i64
// CHECK-LABEL: func.func @point_to_point(
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[BYTES:.*]] = arith.constant 64 : i64
// CHECK: call @moert_comm_send(%{{.*}}, %[[ONE]], %{{.*}}, %[[BYTES]])
// CHECK: %[[COORD:.*]] = call @moert_comm_grid_index(%{{.*}}) : (i32) -> i64
// CHECK: %[[SELF:.*]] = arith.addi %{{.*}}, %[[COORD]] : i64
// CHECK: %[[SHIFTED:.*]] = arith.addi %[[SELF]], %{{.*}} : i64
// CHECK: %[[PEER:.*]] = arith.remsi %[[SHIFTED]], %{{.*}} : i64
// CHECK: call @moert_comm_recv(%{{.*}}, %[[PEER]], %{{.*}}, %[[BYTES]])
module {
  shard.grid @g(shape = 4)
  func.func @point_to_point(%x: tensor<16xf32>) -> tensor<16xf32> {
    moeflow.send %x group @g axes [0] to 1 : tensor<16xf32>
    %y = moeflow.recv group @g axes [0] from offset -1 : tensor<16xf32>
    return %y : tensor<16xf32>
  }
}

// -----

// Tests that shard.process_multi_index becomes one moert_comm_grid_index call
// per axis (all axes when none are listed).
// CHECK-LABEL: func.func @coordinates(
// CHECK-DAG: %[[A0:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[A2:.*]] = arith.constant 2 : i32
// CHECK: %[[C0:.*]] = call @moert_comm_grid_index(%[[A0]]) : (i32) -> i64
// CHECK: %[[I0:.*]] = arith.index_cast %[[C0]] : i64 to index
// CHECK: call @moert_comm_grid_index(%{{.*}})
// CHECK: %[[C2:.*]] = call @moert_comm_grid_index(%[[A2]]) : (i32) -> i64
// CHECK: %[[I2:.*]] = arith.index_cast %[[C2]] : i64 to index
// CHECK: %[[E:.*]] = call @moert_comm_grid_index(%{{.*}}) : (i32) -> i64
// CHECK: %[[IE:.*]] = arith.index_cast %[[E]] : i64 to index
// CHECK: return %[[I0]], %{{.*}}, %[[I2]], %[[IE]]
module {
  shard.grid @g(shape = 2x2x2)
  func.func @coordinates() -> (index, index, index, index) {
    %a:3 = shard.process_multi_index on @g : index, index, index
    %e = shard.process_multi_index on @g axes = [1] : index
    return %a#0, %a#1, %a#2, %e : index, index, index, index
  }
}

// -----

// Tests that a started all-to-all becomes a start call where the start is
// (reading the operand buffers, returning a handle) and a wait call where the
// wait is, which names the receive buffers again; the results read those
// buffers after the wait, and the compute in between stays between the calls.
// CHECK-DAG: func.func private @moert_comm_all_to_all_v_start(i32, !llvm.ptr, !llvm.ptr, i64, !llvm.ptr, !llvm.ptr, i64, i64) -> i64
// CHECK-DAG: func.func private @moert_comm_all_to_all_v_wait(i64, !llvm.ptr, !llvm.ptr)
// CHECK-LABEL: func.func @started(
// CHECK-SAME: %[[ROWS:[a-z0-9_]+]]: tensor<8x16xf32>, %[[COUNTS:[a-z0-9_]+]]: tensor<2xi32>, %[[X:[a-z0-9_]+]]: f32
// CHECK-DAG: %[[MASK:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[CAP:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[ROWBYTES:.*]] = arith.constant 64 : i64
// CHECK: %[[WIDE:.*]] = arith.extsi %[[COUNTS]] : tensor<2xi32> to tensor<2xi64>
// CHECK: %[[SEND:.*]] = bufferization.to_buffer %[[ROWS]] read_only : tensor<8x16xf32> to memref<8x16xf32>
// CHECK: %[[RECV:.*]] = memref.alloc() : memref<16x16xf32>
// CHECK: %[[RECVC:.*]] = memref.alloc() : memref<2xi64>
// CHECK: %[[H:.*]] = call @moert_comm_all_to_all_v_start(%[[MASK]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[CAP]], %[[ROWBYTES]]) : (i32, !llvm.ptr, !llvm.ptr, i64, !llvm.ptr, !llvm.ptr, i64, i64) -> i64
// CHECK: %[[Y:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK: memref.extract_aligned_pointer_as_index %[[RECV]]
// CHECK: memref.extract_aligned_pointer_as_index %[[RECVC]]
// CHECK: call @moert_comm_all_to_all_v_wait(%[[H]], %{{.*}}, %{{.*}}) : (i64, !llvm.ptr, !llvm.ptr) -> ()
// CHECK: %[[OUT:.*]] = bufferization.to_tensor %[[RECV]] restrict writable : memref<16x16xf32> to tensor<16x16xf32>
// CHECK: %[[OUTC:.*]] = bufferization.to_tensor %[[RECVC]] restrict writable : memref<2xi64> to tensor<2xi64>
// CHECK: %[[NARROW:.*]] = arith.trunci %[[OUTC]] : tensor<2xi64> to tensor<2xi32>
// CHECK: return %[[OUT]], %[[NARROW]], %[[Y]]
// CHECK-NOT: moeflow.
module {
  shard.grid @g(shape = 1x2x1)
  func.func @started(%rows: tensor<8x16xf32>, %counts: tensor<2xi32>, %x: f32) -> (tensor<16x16xf32>, tensor<2xi32>, f32) {
    %ev = moeflow.all_to_all_v_start %rows, %counts group @g axes [1]
        : tensor<8x16xf32>, tensor<2xi32> -> !moeflow.event<tensor<16x16xf32>, tensor<2xi32>>
    %y = arith.mulf %x, %x : f32
    %out, %recv = moeflow.wait %ev : !moeflow.event<tensor<16x16xf32>, tensor<2xi32>>
    return %out, %recv, %y : tensor<16x16xf32>, tensor<2xi32>, f32
  }
}

// -----

// Tests that a host-to-hbm prefetch becomes a start where the prefetch is
// (from the input's buffer, 4 * 8 * 4 bytes) and a wait just before the op
// that holds the first use (a loop), after the compute that precedes it; the
// wait returns the runtime's buffer as memref<?xi8> (through the C interface)
// and the result reads a view of it with the result's type, not writable.
// Without release-prefetched nothing releases it (compiled code owns it);
// with it, the buffer is released right after the loop.
// CHECK-DAG: func.func private @moert_tier_fetch_start(!llvm.ptr, i64) -> i64
// CHECK-DAG: func.func private @moert_tier_fetch_wait(i64) -> memref<?xi8> attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @prefetch(
// CHECK-SAME: %[[W:[a-z0-9_]+]]: tensor<4x8xf32>, %[[X:[a-z0-9_]+]]: f32
// CHECK-DAG: %[[BYTES:.*]] = arith.constant 128 : i64
// CHECK: %[[SRC:.*]] = bufferization.to_buffer %[[W]] read_only : tensor<4x8xf32> to memref<4x8xf32>
// CHECK-NOT: memref.alloc
// CHECK: memref.extract_aligned_pointer_as_index %[[SRC]]
// CHECK: %[[H:.*]] = call @moert_tier_fetch_start(%{{.*}}, %[[BYTES]]) : (!llvm.ptr, i64) -> i64
// CHECK: %[[Y:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK: %[[B:.*]] = call @moert_tier_fetch_wait(%[[H]]) : (i64) -> memref<?xi8>
// CHECK: %[[V:.*]] = memref.view %[[B]][%{{.*}}][] : memref<?xi8> to memref<4x8xf32>
// CHECK: %[[P:.*]] = bufferization.to_tensor %[[V]] restrict : memref<4x8xf32> to tensor<4x8xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[Y]])
// CHECK: tensor.extract %[[P]]
// CHECK-NOT: moert_tier_fetch_release
// CHECK: return
// CHECK-NOT: moeflow.
// RELEASE-DAG: func.func private @moert_tier_fetch_release(i64)
// RELEASE-LABEL: func.func @prefetch(
// RELEASE: %[[H:.*]] = call @moert_tier_fetch_start
// RELEASE: arith.mulf
// RELEASE: call @moert_tier_fetch_wait(%[[H]])
// RELEASE-NEXT: memref.view
// RELEASE-NEXT: %[[P:.*]] = bufferization.to_tensor
// RELEASE: scf.for
// RELEASE: scf.yield
// RELEASE-NEXT: }
// RELEASE-NEXT: call @moert_tier_fetch_release(%[[H]]) : (i64) -> ()
// RELEASE-NEXT: return
func.func @prefetch(%w: tensor<4x8xf32>, %x: f32, %n: index) -> f32 {
  %p = moeflow.prefetch %w from <host> to <hbm> : tensor<4x8xf32>
  %y = arith.mulf %x, %x : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %s = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %y) -> f32 {
    %e = tensor.extract %p[%c0, %i] : tensor<4x8xf32>
    %a = arith.addf %acc, %e : f32
    scf.yield %a : f32
  }
  return %s : f32
}

// -----

// Tests that with release-prefetched the buffer is released after its last
// use through an alias (a slice of the result read after the result itself),
// not after the last direct use.
// CHECK-LABEL: func.func @alias(
// CHECK-DAG: %[[BYTES:.*]] = arith.constant 64 : i64
// CHECK: call @moert_tier_fetch_start(%{{.*}}, %[[BYTES]])
// CHECK: memref.view %{{.*}}[%{{.*}}][] : memref<?xi8> to memref<4x8xbf16>
// CHECK-NOT: moert_tier_fetch_release
// RELEASE-LABEL: func.func @alias(
// RELEASE: %[[H:.*]] = call @moert_tier_fetch_start
// RELEASE: %[[P:.*]] = bufferization.to_tensor
// RELEASE: %[[S:.*]] = tensor.extract_slice %[[P]]
// RELEASE: tensor.extract %[[P]]
// RELEASE: tensor.extract %[[S]]
// RELEASE-NEXT: call @moert_tier_fetch_release(%[[H]])
// RELEASE-NEXT: arith.addf
func.func @alias(%w: tensor<4x8xbf16>, %i: index) -> bf16 {
  %p = moeflow.prefetch %w from <host> to <hbm> : tensor<4x8xbf16>
  %s = tensor.extract_slice %p[1, 0] [1, 8] [1, 1] : tensor<4x8xbf16> to tensor<8xbf16>
  %a = tensor.extract %p[%i, %i] : tensor<4x8xbf16>
  %b = tensor.extract %s[%i] : tensor<8xbf16>
  %c = arith.addf %a, %b : bf16
  return %c : bf16
}

// -----

// Tests that a loop result carrying the buffer keeps it alive: released
// after the read of the loop's result, not after the loop.
// RELEASE-LABEL: func.func @carried(
// RELEASE: %[[H:.*]] = call @moert_tier_fetch_start
// RELEASE: %[[P:.*]] = bufferization.to_tensor
// RELEASE: %[[R:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[P]])
// RELEASE: arith.addi
// RELEASE-NEXT: tensor.extract %[[R]]
// RELEASE-NEXT: call @moert_tier_fetch_release(%[[H]])
// RELEASE-NEXT: arith.addf
func.func @carried(%w: tensor<4x8xf32>, %n: index, %i: index) -> f32 {
  %p = moeflow.prefetch %w from <host> to <hbm> : tensor<4x8xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %k = %c0 to %n step %c1 iter_args(%t = %p) -> tensor<4x8xf32> {
    scf.yield %t : tensor<4x8xf32>
  }
  %x = arith.addi %i, %i : index
  %e = tensor.extract %r[%x, %x] : tensor<4x8xf32>
  %f = arith.addf %e, %e : f32
  return %f : f32
}

// -----

// Tests that a buffer that escapes (a returned slice of it) is never
// released by compiled code, even with release-prefetched: the runtime
// releases it at the end of the run, after the outputs are read.
// RELEASE-LABEL: func.func @escapes(
// RELEASE: call @moert_tier_fetch_wait
// RELEASE-NOT: moert_tier_fetch_release
// RELEASE: return
func.func @escapes(%w: tensor<4x8xf32>) -> tensor<8xf32> {
  %p = moeflow.prefetch %w from <host> to <hbm> : tensor<4x8xf32>
  %s = tensor.extract_slice %p[1, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<8xf32>
  return %s : tensor<8xf32>
}

// -----

// Tests that a buffer yielded out of the loop that prefetches it escapes that
// block: no release inside the loop.
// RELEASE-LABEL: func.func @yielded(
// RELEASE: scf.for
// RELEASE: call @moert_tier_fetch_wait
// RELEASE-NOT: moert_tier_fetch_release
// RELEASE: scf.yield
// RELEASE-NOT: moert_tier_fetch_release
// RELEASE: return
func.func @yielded(%w: tensor<4x8xf32>, %init: tensor<4x8xf32>, %n: index) -> tensor<4x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %k = %c0 to %n step %c1 iter_args(%t = %init) -> tensor<4x8xf32> {
    %p = moeflow.prefetch %w from <host> to <hbm> : tensor<4x8xf32>
    scf.yield %p : tensor<4x8xf32>
  }
  return %r : tensor<4x8xf32>
}

// -----

// Tests that a prefetch whose result has no users copies nothing: like any
// pure op without users it is erased (canonicalization would drop it too).
// CHECK-LABEL: func.func @unused(
// CHECK-NOT: call
// CHECK-NOT: moeflow.
// CHECK: return
// RELEASE-LABEL: func.func @unused(
// RELEASE-NEXT: return
func.func @unused(%w: tensor<2x3xbf16>) {
  %p = moeflow.prefetch %w from <host> to <hbm> : tensor<2x3xbf16>
  return
}

// -----

// Tests that a prefetch by expert becomes a moert_tier_fetch_experts_start
// where it is (the input's buffer, 4 * 8 * 4 bytes, 4 experts, the
// predicted indices' buffer and their count 6), and its await a
// moert_tier_fetch_experts_wait where the await is (after the compute that
// precedes it), with the routed indices' buffer and count 8; the result
// reads a view of the returned buffer, not writable. With
// release-prefetched the buffer is released after the await's last user.
// CHECK-DAG: func.func private @moert_tier_fetch_experts_start(!llvm.ptr, i64, i64, !llvm.ptr, i64) -> i64
// CHECK-DAG: func.func private @moert_tier_fetch_experts_wait(i64, !llvm.ptr, i64) -> memref<?xi8> attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @prefetch_experts(
// CHECK-SAME: %[[W:[a-z0-9_]+]]: tensor<4x8xf32>, %[[GUESS:[a-z0-9_]+]]: tensor<3x2xi32>, %[[ROUTED:[a-z0-9_]+]]: tensor<8xi32>
// CHECK-DAG: %[[BYTES:.*]] = arith.constant 128 : i64
// CHECK-DAG: %[[EXPERTS:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[NGUESS:.*]] = arith.constant 6 : i64
// CHECK: %[[SRC:.*]] = bufferization.to_buffer %[[W]] read_only : tensor<4x8xf32> to memref<4x8xf32>
// CHECK: %[[G:.*]] = bufferization.to_buffer %[[GUESS]] read_only : tensor<3x2xi32> to memref<3x2xi32>
// CHECK: %[[H:.*]] = call @moert_tier_fetch_experts_start(%{{.*}}, %[[BYTES]], %[[EXPERTS]], %{{.*}}, %[[NGUESS]]) : (!llvm.ptr, i64, i64, !llvm.ptr, i64) -> i64
// CHECK: arith.mulf
// CHECK: %[[R:.*]] = bufferization.to_buffer %[[ROUTED]] read_only : tensor<8xi32> to memref<8xi32>
// CHECK: memref.extract_aligned_pointer_as_index %[[R]]
// CHECK: %[[B:.*]] = call @moert_tier_fetch_experts_wait(%[[H]], %{{.*}}, %{{.*}}) : (i64, !llvm.ptr, i64) -> memref<?xi8>
// CHECK: %[[V:.*]] = memref.view %[[B]][%{{.*}}][] : memref<?xi8> to memref<4x8xf32>
// CHECK: %[[P:.*]] = bufferization.to_tensor %[[V]] restrict : memref<4x8xf32> to tensor<4x8xf32>
// CHECK: tensor.extract %[[P]]
// CHECK-NOT: moert_tier_fetch_release
// CHECK: return
// RELEASE-LABEL: func.func @prefetch_experts(
// RELEASE: %[[H:.*]] = call @moert_tier_fetch_experts_start
// RELEASE: call @moert_tier_fetch_experts_wait(%[[H]]
// RELEASE: tensor.extract
// RELEASE-NEXT: call @moert_tier_fetch_release(%[[H]]) : (i64) -> ()
// RELEASE-NEXT: arith.addf
func.func @prefetch_experts(%w: tensor<4x8xf32>, %guess: tensor<3x2xi32>,
    %routed: tensor<8xi32>, %x: f32, %i: index) -> f32 {
  %p = moeflow.prefetch_experts %w predicted(%guess : tensor<3x2xi32>)
      from <host> to <hbm> : tensor<4x8xf32>
  %y = arith.mulf %x, %x : f32
  %a = moeflow.await_experts %p routed(%routed : tensor<8xi32>)
      : tensor<4x8xf32>
  %e = tensor.extract %a[%i, %i] : tensor<4x8xf32>
  %s = arith.addf %y, %e : f32
  return %s : f32
}

// -----

// Tests that a prefetch by expert without a prediction passes a null
// pointer and a count of 0 (every routed expert is copied at the wait).
// CHECK-LABEL: func.func @routed_only(
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: call @moert_tier_fetch_experts_start(%{{.*}}, %{{.*}}, %{{.*}}, %[[NULL]], %[[ZERO]])
// CHECK: call @moert_tier_fetch_experts_wait
func.func @routed_only(%w: tensor<2x4xbf16>, %routed: tensor<4xi32>)
    -> tensor<2x4xbf16> {
  %p = moeflow.prefetch_experts %w from <host> to <hbm> : tensor<2x4xbf16>
  %a = moeflow.await_experts %p routed(%routed : tensor<4xi32>)
      : tensor<2x4xbf16>
  return %a : tensor<2x4xbf16>
}
