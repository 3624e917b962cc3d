// RUN: moe-opt %s -split-input-file -moe-map-loops-to-gpu -canonicalize | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-map-loops-to-gpu=multiprocessors=132 -canonicalize | FileCheck %s --check-prefix=SPREAD
// RUN: moe-opt %s -split-input-file -moe-map-loops-to-gpu=multiprocessors=4 -canonicalize | FileCheck %s --check-prefix=FEW

// A 2-D parallel loop becomes one launch over its 1200 flattened iterations:
// 5 blocks of 256 threads, a bound check, and the indices delinearised.
// With 132 multiprocessors the 1200 iterations would fill only 5 of them:
// blocks of ceil(1200 / 132) = 10 threads rounded up to a warp, 38 blocks.
// With 4 they fill every multiprocessor with 256 threads: unchanged.
// SPREAD-LABEL: func.func @parallel
// SPREAD: gpu.launch blocks({{.*}}) in ({{.*}} = %c38, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c32, {{.*}} = %c1, {{.*}} = %c1)
// FEW-LABEL: func.func @parallel
// FEW: gpu.launch blocks({{.*}}) in ({{.*}} = %c5, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c256, {{.*}} = %c1, {{.*}} = %c1)
// CHECK-LABEL: func.func @parallel
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : index
// CHECK-DAG: %[[C1200:.*]] = arith.constant 1200 : index
// CHECK-DAG: %[[C300:.*]] = arith.constant 300 : index
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK: %[[OUT:.*]] = gpu.alloc () : memref<4x300xf32>
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C5]], %{{.*}} = %c1, %{{.*}} = %c1) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]], %{{.*}} = %c1, %{{.*}} = %c1)
// CHECK:   %[[BASE:.*]] = arith.muli %[[BX]], %[[C256]]
// CHECK:   %[[LINEAR:.*]] = arith.addi %[[BASE]], %[[TX]]
// CHECK:   %[[IN:.*]] = arith.cmpi ult, %[[LINEAR]], %[[C1200]]
// CHECK:   scf.if %[[IN]] {
// CHECK:     %[[J:.*]] = arith.remui %[[LINEAR]], %[[C300]]
// CHECK:     %[[I:.*]] = arith.divui %[[LINEAR]], %[[C300]]
// CHECK:     memref.load %{{.*}}[%[[I]], %[[J]]]
// CHECK:     memref.store %{{.*}}, %[[OUT]][%[[I]], %[[J]]]
// CHECK:   gpu.terminator
// CHECK: return %[[OUT]]
func.func @parallel(%a: memref<4x300xf32>) -> memref<4x300xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c300 = arith.constant 300 : index
  %b = memref.alloc() : memref<4x300xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c300) step (%c1, %c1) {
    %v = memref.load %a[%i, %j] : memref<4x300xf32>
    memref.store %v, %b[%i, %j] : memref<4x300xf32>
    scf.reduce
  }
  return %b : memref<4x300xf32>
}

// -----

// An independent scf.for is a parallel loop; its temporaries move to the
// thread's stack. A sequential loop runs in a one-thread launch. Buffers not
// returned are freed before the return.
// CHECK-LABEL: func.func @independent_and_sequential
// CHECK: %[[TMP:.*]] = gpu.alloc () : memref<8xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c256, {{.*}} = %c1, {{.*}} = %c1)
// CHECK:   arith.cmpi ult, %{{.*}}, %c8
// CHECK:   memref.alloca() : memref<4xf32>
// CHECK-NOT: memref.dealloc
// CHECK:   gpu.terminator
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1)
// CHECK:   scf.for
// CHECK:   gpu.terminator
// CHECK: gpu.dealloc %[[TMP]]
// CHECK: return
func.func @independent_and_sequential(%out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %f = arith.constant 1.0 : f32
  %tmp = memref.alloc() : memref<8xf32>
  scf.for %i = %c0 to %c8 step %c1 {
    %scratch = memref.alloc() : memref<4xf32>
    memref.store %f, %scratch[%c0] : memref<4xf32>
    %v = memref.load %scratch[%c0] : memref<4xf32>
    memref.store %v, %tmp[%i] : memref<8xf32>
    memref.dealloc %scratch : memref<4xf32>
  } {moe.independent_iterations}
  scf.for %i = %c1 to %c8 step %c1 {
    %p = arith.subi %i, %c1 : index
    %v = memref.load %tmp[%p] : memref<8xf32>
    memref.store %v, %out[%i] : memref<8xf32>
  }
  return
}

// -----

// A buffer the function frees itself (a prefetched weight copy freed after
// its layer) is freed there, once: not again before the return.
// CHECK-LABEL: func.func @freed_early
// CHECK: %[[BUF:.*]] = gpu.alloc () : memref<8xf32>
// CHECK: gpu.launch
// CHECK: gpu.dealloc %[[BUF]]
// CHECK-NOT: gpu.dealloc
// CHECK: return
func.func @freed_early(%out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %buf = memref.alloc() : memref<8xf32>
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    %v = memref.load %buf[%i] : memref<8xf32>
    memref.store %v, %out[%i] : memref<8xf32>
    scf.reduce
  }
  memref.dealloc %buf : memref<8xf32>
  %c2 = arith.constant 2.0 : f32
  memref.store %c2, %out[%c0] : memref<8xf32>
  return
}

// -----

// Nested parallel loops inside a kernel run sequentially in its thread.
// CHECK-LABEL: func.func @nested
// CHECK: gpu.launch
// CHECK-NOT: scf.parallel
// CHECK: scf.for
// CHECK: gpu.terminator
func.func @nested(%a: memref<2x3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %f = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c2) step (%c1) {
    scf.parallel (%j) = (%c0) to (%c3) step (%c1) {
      memref.store %f, %a[%i, %j] : memref<2x3xf32>
      scf.reduce
    }
    scf.reduce
  }
  return
}

// -----

// Returning an argument returns a fresh device copy (the caller owns results).
// CHECK-LABEL: func.func @returns_argument
// CHECK: %[[COPY:.*]] = gpu.alloc () : memref<4xf32>
// CHECK: gpu.memcpy %[[COPY]], %arg0
// CHECK: return %[[COPY]]
func.func @returns_argument(%a: memref<4xf32>) -> memref<4xf32> {
  return %a : memref<4xf32>
}

// -----

// A constant read by a kernel is copied to the device, and freed at the end.
// CHECK-LABEL: func.func @constant
// CHECK: %[[HOST:.*]] = memref.get_global @table
// CHECK: %[[DEV:.*]] = gpu.alloc () : memref<2xf32>
// CHECK: gpu.memcpy %[[DEV]], %[[HOST]]
// CHECK: gpu.launch
// CHECK:   memref.load %[[DEV]]
// CHECK: gpu.dealloc %[[DEV]]
memref.global "private" constant @table : memref<2xf32> = dense<[1.0, 2.0]>
func.func @constant(%out: memref<2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %t = memref.get_global @table : memref<2xf32>
  scf.parallel (%i) = (%c0) to (%c2) step (%c1) {
    %v = memref.load %t[%i] : memref<2xf32>
    memref.store %v, %out[%i] : memref<2xf32>
    scf.reduce
  }
  return
}

// -----

// Sequential code whose values the host cannot hold (a loaded scalar used by a
// later store, as when a one-token loop folds away) runs in one one-thread
// kernel together; the allocation in between stays on the host, before it.
// CHECK-LABEL: func.func @sequential_group
// CHECK: %[[BUF:.*]] = gpu.alloc () : memref<4xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1)
// CHECK:   %[[MAX:.*]] = scf.for
// CHECK:   memref.store %[[MAX]], %[[BUF]]
// CHECK:   memref.store %[[MAX]], %arg1
// CHECK:   gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: gpu.dealloc %[[BUF]]
func.func @sequential_group(%a: memref<8xf32>, %out: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %low = arith.constant 0xFF800000 : f32
  %max = scf.for %i = %c0 to %c8 step %c1 iter_args(%m = %low) -> (f32) {
    %v = memref.load %a[%i] : memref<8xf32>
    %n = arith.maximumf %m, %v : f32
    scf.yield %n : f32
  }
  %buf = memref.alloc() : memref<4xf32>
  memref.store %max, %buf[%c0] : memref<4xf32>
  memref.store %max, %out[%c0] : memref<1xf32>
  return
}

// -----

// A call of a function without a body (the runtime's moert_comm_* collectives,
// from convert-moeflow-to-runtime) stays on the host between the kernels, with
// device pointers; a call of a function with a body is device work.
// CHECK-LABEL: func.func @runtime_call
// CHECK: %[[BUF:.*]] = gpu.alloc () : memref<64xf32>
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK: %[[PTR:.*]] = memref.extract_aligned_pointer_as_index %[[BUF]]
// CHECK: %[[I64:.*]] = arith.index_cast %[[PTR]]
// CHECK: %[[P:.*]] = llvm.inttoptr %[[I64]]
// CHECK-NOT: gpu.launch
// CHECK: call @moert_comm_all_reduce(%{{.*}}, %[[P]], %[[P]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: gpu.launch
// CHECK: call @square
// CHECK: gpu.terminator
func.func private @moert_comm_all_reduce(i32, !llvm.ptr, !llvm.ptr, i64, i32, i32)
func.func private @square(%v: f32) -> f32 {
  %s = arith.mulf %v, %v : f32
  return %s : f32
}
func.func @runtime_call(%a: memref<64xf32>) -> memref<64xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %b = memref.alloc() : memref<64xf32>
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    %v = memref.load %a[%i] : memref<64xf32>
    memref.store %v, %b[%i] : memref<64xf32>
    scf.reduce
  }
  %intptr = memref.extract_aligned_pointer_as_index %b : memref<64xf32> -> index
  %i64 = arith.index_cast %intptr : index to i64
  %ptr = llvm.inttoptr %i64 : i64 to !llvm.ptr
  %group = arith.constant 2 : i32
  %count = arith.constant 64 : i64
  %dtype = arith.constant 0 : i32
  %sum = arith.constant 0 : i32
  func.call @moert_comm_all_reduce(%group, %ptr, %ptr, %count, %dtype, %sum) : (i32, !llvm.ptr, !llvm.ptr, i64, i32, i32) -> ()
  %first = memref.load %b[%c0] : memref<64xf32>
  %squared = func.call @square(%first) : (f32) -> f32
  memref.store %squared, %b[%c0] : memref<64xf32>
  return %b : memref<64xf32>
}

// -----

// A zero fill of a whole bf16 buffer (a linalg.fill) is a gpu.memset, not a
// one-element-a-thread kernel.
// CHECK-LABEL: func.func @fill_zero_bf16
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK-DAG: %[[BUF:.*]] = gpu.alloc () : memref<64x2048xbf16>
// CHECK-NOT: gpu.launch
// CHECK: gpu.memset %[[BUF]], %[[ZERO]] : memref<64x2048xbf16>, bf16
// CHECK-NOT: gpu.launch
// CHECK: return %[[BUF]]
func.func @fill_zero_bf16() -> memref<64x2048xbf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c2048 = arith.constant 2048 : index
  %zero = arith.constant 0.0 : bf16
  %buf = memref.alloc() : memref<64x2048xbf16>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c64, %c2048) step (%c1, %c1) {
    memref.store %zero, %buf[%i, %j] : memref<64x2048xbf16>
    scf.reduce
  }
  return %buf : memref<64x2048xbf16>
}

// -----

// A fill of an f32 argument with a non-zero constant is a gpu.memset too.
// CHECK-LABEL: func.func @fill_f32
// CHECK-SAME: (%[[OUT:.*]]: memref<4x8xf32>)
// CHECK: %[[CST:.*]] = arith.constant -1.500000e+00 : f32
// CHECK-NOT: gpu.launch
// CHECK: gpu.memset %[[OUT]], %[[CST]] : memref<4x8xf32>, f32
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @fill_f32(%out: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %cst = arith.constant -1.5 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c8) step (%c1, %c1) {
    memref.store %cst, %out[%i, %j] : memref<4x8xf32>
    scf.reduce
  }
  return
}

// -----

// gpu.memset lowers values of 16 or 32 bits only: fills of i8 and f64 buffers
// stay kernels.
// CHECK-LABEL: func.func @fill_i8_f64
// CHECK-NOT: gpu.memset
// CHECK: gpu.launch
// CHECK: memref.store %{{.*}}, %arg0
// CHECK: gpu.launch
// CHECK: memref.store %{{.*}}, %arg1
// CHECK-NOT: gpu.memset
// CHECK: return
func.func @fill_i8_f64(%a: memref<16xi8>, %b: memref<16xf64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %zero8 = arith.constant 0 : i8
  %zero64 = arith.constant 0.0 : f64
  scf.parallel (%i) = (%c0) to (%c16) step (%c1) {
    memref.store %zero8, %a[%i] : memref<16xi8>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c16) step (%c1) {
    memref.store %zero64, %b[%i] : memref<16xf64>
    scf.reduce
  }
  return
}

// -----

// A loop that fills only part of the buffer is a kernel.
// CHECK-LABEL: func.func @fill_part
// CHECK-NOT: gpu.memset
// CHECK: gpu.launch
// CHECK: memref.store
// CHECK-NOT: gpu.memset
// CHECK: return
func.func @fill_part(%out: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c6) step (%c1, %c1) {
    memref.store %zero, %out[%i, %j] : memref<4x8xf32>
    scf.reduce
  }
  return
}

// -----

// A loop storing a value that is not a constant is a kernel.
// CHECK-LABEL: func.func @fill_not_constant
// CHECK-NOT: gpu.memset
// CHECK: gpu.launch
// CHECK: memref.store
// CHECK-NOT: gpu.memset
// CHECK: return
func.func @fill_not_constant(%out: memref<8xf32>, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    memref.store %v, %out[%i] : memref<8xf32>
    scf.reduce
  }
  return
}
