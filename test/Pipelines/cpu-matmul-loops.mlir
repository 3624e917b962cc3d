// RUN: moe-opt %s --moe-cpu-matmul-loops -split-input-file | FileCheck %s

// Tests C += A·Bᵀ (Hugging Face layout): blocks of 2 rows x 4 columns of dot
// products share the loads of A's and B's rows in 8 register accumulators with
// reassociation allowed; tail loops take the last columns and the last row.
// CHECK-LABEL: func.func @transposed
// CHECK-SAME: (%[[A:.*]]: memref<?x16xbf16>, %[[B:.*]]: memref<10x16xbf16>, %[[C:.*]]: memref<?x10xf32>)
// CHECK: scf.for %[[I:.*]] = %c0 to %{{.*}} step %c2{{.*}} {
// CHECK: scf.for %[[J:.*]] = %c0 to %{{.*}} step %c4{{.*}} {
// CHECK: %{{.*}}:8 = scf.for %[[K:.*]] = %c0 to %{{.*}} step %c1 iter_args
// CHECK: memref.load %[[A]][%[[I]], %[[K]]]
// CHECK: arith.extf
// CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: memref.store
// CHECK: %{{.*}}:2 = scf.for {{.*}} iter_args
// CHECK: %{{.*}}:4 = scf.for {{.*}} iter_args
// CHECK: scf.for {{.*}} iter_args({{[^,]*}}) -> (f32)
// CHECK-NOT: linalg.matmul
func.func @transposed(%a: memref<?x16xbf16>, %b: memref<10x16xbf16>, %c: memref<?x10xf32>) {
  linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
      ins(%a, %b : memref<?x16xbf16>, memref<10x16xbf16>) outs(%c : memref<?x10xf32>)
  return
}

// -----

// Tests C += A·B: an axpy of A[i, k] times row k of B into row i of C.
// CHECK-LABEL: func.func @plain
// CHECK: scf.for %[[I:.*]] = %c0
// CHECK: scf.for %[[K:.*]] = %c0
// CHECK: %[[X:.*]] = memref.load %{{.*}}[%[[I]], %[[K]]] : memref<?x16xf32>
// CHECK: scf.for %[[J:.*]] = %c0
// CHECK: memref.load %{{.*}}[%[[K]], %[[J]]] : memref<16x10xf32>
// CHECK: arith.mulf %[[X]], %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[I]], %[[J]]] : memref<?x10xf32>
func.func @plain(%a: memref<?x16xf32>, %b: memref<16x10xf32>, %c: memref<?x10xf32>) {
  linalg.matmul ins(%a, %b : memref<?x16xf32>, memref<16x10xf32>) outs(%c : memref<?x10xf32>)
  return
}

// -----

// Tests that tensor-level matmuls are left alone (the step runs on buffers).
// CHECK-LABEL: func.func @tensors
// CHECK: linalg.matmul
func.func @tensors(%a: tensor<4x16xf32>, %b: tensor<16x10xf32>, %c: tensor<4x10xf32>) -> tensor<4x10xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<4x16xf32>, tensor<16x10xf32>) outs(%c : tensor<4x10xf32>) -> tensor<4x10xf32>
  return %r : tensor<4x10xf32>
}
