// RUN: moe-opt %s -split-input-file -moe-elide-stream-syncs | FileCheck %s

// The host synchronization gpu-async-region put before two TMA descriptor
// encodings is removed: the chain goes on with the same token.
// CHECK-LABEL: func.func @tma_descriptors
// CHECK: %[[T:.*]] = gpu.memset async
// CHECK-NOT: gpu.wait
// CHECK: llvm.call @mgpuTensorMapEncodeTiledMemref
// CHECK: llvm.call @mgpuTensorMapEncodeTiledMemref
// CHECK-NOT: gpu.wait
// CHECK: gpu.launch_func async [%[[T]]]
// CHECK: gpu.wait [%{{.*}}]
// CHECK: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @kernel() kernel { gpu.return }
  }
  llvm.func @mgpuTensorMapEncodeTiledMemref(i64, !llvm.ptr, i64, i64, i64, i64, i64, !llvm.ptr) -> !llvm.ptr
  func.func @tma_descriptors(%rank: i64, %desc: !llvm.ptr, %buf: memref<16xf32>) {
    %c1 = arith.constant 1 : index
    %one = llvm.mlir.constant(1 : i64) : i64
    %two = llvm.mlir.constant(2 : i64) : i64
    %f = arith.constant 0.0 : f32
    %t0 = gpu.wait async
    %t1 = gpu.memset async [%t0] %buf, %f : memref<16xf32>, f32
    gpu.wait [%t1]
    %box = llvm.alloca %two x i64 : (i64) -> !llvm.ptr
    llvm.store %one, %box : i64, !llvm.ptr
    %second = llvm.getelementptr %box[1] : (!llvm.ptr) -> !llvm.ptr, i64
    llvm.store %one, %second : i64, !llvm.ptr
    %m0 = llvm.call @mgpuTensorMapEncodeTiledMemref(%rank, %desc, %one, %one, %one, %one, %one, %box) : (i64, !llvm.ptr, i64, i64, i64, i64, i64, !llvm.ptr) -> !llvm.ptr
    %m1 = llvm.call @mgpuTensorMapEncodeTiledMemref(%rank, %desc, %one, %one, %one, %one, %one, %box) : (i64, !llvm.ptr, i64, i64, i64, i64, i64, !llvm.ptr) -> !llvm.ptr
    %t2 = gpu.wait async
    %t3 = gpu.launch_func async [%t2] @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.wait [%t3]
    return
  }
}

// -----

// The tier fetches of a memory-tier plan are ordered on the stream by the
// runtime (start, wait with the view of the buffer it returns, release): no
// synchronization before them either.
// CHECK-LABEL: func.func @tier_fetch
// CHECK-NOT: gpu.wait [
// CHECK: call @moert_tier_fetch_start
// CHECK: call @moert_tier_fetch_wait
// CHECK: memref.view
// CHECK: gpu.launch_func async [%[[T:.*]]]
// CHECK-NOT: gpu.wait [
// CHECK: call @moert_tier_fetch_release
// CHECK-NEXT: gpu.launch_func async [%{{.*}}]
// CHECK: gpu.wait [
// CHECK-NEXT: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @kernel() kernel { gpu.return }
  }
  func.func private @moert_tier_fetch_start(!llvm.ptr, i64) -> i64
  func.func private @moert_tier_fetch_wait(i64) -> memref<?xi8> attributes {llvm.emit_c_interface}
  func.func private @moert_tier_fetch_release(i64)
  func.func @tier_fetch(%src: !llvm.ptr, %bytes: i64) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %t0 = gpu.wait async
    %t1 = gpu.launch_func async [%t0] @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.wait [%t1]
    %h = call @moert_tier_fetch_start(%src, %bytes) : (!llvm.ptr, i64) -> i64
    %b = call @moert_tier_fetch_wait(%h) : (i64) -> memref<?xi8>
    %v = memref.view %b[%c0][] : memref<?xi8> to memref<4x8xf32>
    %t2 = gpu.wait async
    %t3 = gpu.launch_func async [%t2] @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.wait [%t3]
    call @moert_tier_fetch_release(%h) : (i64) -> ()
    %t4 = gpu.wait async
    %t5 = gpu.launch_func async [%t4] @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.wait [%t5]
    return
  }
}

// -----

// Any other call with side effects keeps its synchronization (the runtime's
// collectives read counts on the host), as does a store to memory that is not
// the host's stack.
// CHECK-LABEL: func.func @other_calls
// CHECK: gpu.wait [%{{.*}}]
// CHECK-NEXT: call @moert_comm_all_reduce
// CHECK: gpu.wait [%{{.*}}]
// CHECK-NEXT: llvm.store
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @kernel() kernel { gpu.return }
  }
  llvm.func @mgpuTensorMapEncodeTiledMemref(i64, !llvm.ptr, i64, i64, i64, i64, i64, !llvm.ptr) -> !llvm.ptr
  func.func private @moert_comm_all_reduce(i32, !llvm.ptr, !llvm.ptr, i64, i32, i32)
  func.func @other_calls(%p: !llvm.ptr, %n: i64, %a: i32, %rank: i64) {
    %c1 = arith.constant 1 : index
    %t0 = gpu.wait async
    %t1 = gpu.launch_func async [%t0] @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.wait [%t1]
    call @moert_comm_all_reduce(%a, %p, %p, %n, %a, %a) : (i32, !llvm.ptr, !llvm.ptr, i64, i32, i32) -> ()
    %t2 = gpu.wait async
    %t3 = gpu.launch_func async [%t2] @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.wait [%t3]
    llvm.store %n, %p : i64, !llvm.ptr
    %m = llvm.call @mgpuTensorMapEncodeTiledMemref(%rank, %p, %n, %n, %n, %n, %n, %p) : (i64, !llvm.ptr, i64, i64, i64, i64, i64, !llvm.ptr) -> !llvm.ptr
    %t4 = gpu.wait async
    %t5 = gpu.launch_func async [%t4] @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.wait [%t5]
    return
  }
}
