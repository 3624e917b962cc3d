// RUN: moe-opt %s -split-input-file -convert-moe-router-to-gpu | FileCheck %s
// RUN: moe-opt %s -split-input-file -convert-moe-router-to-gpu=warps-per-block=2 | FileCheck %s --check-prefix=WARPS
// RUN: not moe-opt %s -convert-moe-router-to-gpu=warps-per-block=0 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not moe-opt %s -convert-moe-router-to-gpu=warps-per-block=33 2>&1 | FileCheck %s --check-prefix=MANY
// ZERO: convert-moe-router-to-gpu: warps-per-block must be between 1 and 32, got 0
// MANY: convert-moe-router-to-gpu: warps-per-block must be between 1 and 32, got 33

// Tests the warp kernel of a softmax router with fewer experts than lanes:
// the logits are read in place, the results are fresh buffers returned as
// tensors, one warp a token (4 warps a block, at least one block), lanes
// past E are masked, the softmax maximum and sum are xor butterflies, the
// chosen expert's score comes from its lane, and lane 0 writes the row.
// CHECK-LABEL: func.func @softmax
// CHECK-SAME: (%[[LOGITS:.*]]: tensor<?x8xf32>)
// CHECK-DAG: %[[BUF:.*]] = bufferization.to_buffer %[[LOGITS]] read_only : tensor<?x8xf32> to memref<?x8xf32>
// CHECK-DAG: %[[T:.*]] = memref.dim %[[BUF]], %{{.*}} : memref<?x8xf32>
// CHECK-DAG: %[[W:.*]] = memref.alloc(%[[T]]) : memref<?x2xbf16>
// CHECK-DAG: %[[I:.*]] = memref.alloc(%[[T]]) : memref<?x2xi32>
// CHECK: %[[CEIL:.*]] = arith.ceildivui %[[T]], %c4 : index
// CHECK: %[[BLOCKS:.*]] = arith.maxui %[[CEIL]], %c1 : index
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]], %{{.*}} = %c1, %{{.*}} = %c1) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c128,
// CHECK: %[[WARP:.*]] = arith.divui %[[TX]], %c32 : index
// CHECK: %[[LANE:.*]] = arith.remui %[[TX]], %c32 : index
// CHECK: %[[TOKEN:.*]] = arith.addi %{{.*}}, %[[WARP]] : index
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[TOKEN]], %[[T]] : index
// CHECK: scf.if %[[IN]] {
// CHECK: %[[HERE:.*]] = arith.cmpi slt, %{{.*}}, %c8_i32 : i32
// CHECK: memref.load %[[BUF]][%[[TOKEN]], %{{.*}}] : memref<?x8xf32>
// CHECK-COUNT-5: gpu.shuffle  xor %{{.*}} : f32
// CHECK: math.exp
// CHECK-COUNT-5: gpu.shuffle  xor %{{.*}} : f32
// CHECK: arith.cmpf uno
// CHECK: gpu.shuffle  xor %{{.*}} : i32
// CHECK: gpu.shuffle  idx
// CHECK: %[[LANE0:.*]] = arith.cmpi eq, %[[LANE]], %c0 : index
// CHECK: scf.if %[[LANE0]] {
// CHECK: memref.store %{{.*}}, %[[W]][%[[TOKEN]], %c0] : memref<?x2xbf16>
// CHECK: memref.store %{{.*}}, %[[I]][%[[TOKEN]], %c0] : memref<?x2xi32>
// CHECK: memref.store %{{.*}}, %[[W]][%[[TOKEN]], %c1] : memref<?x2xbf16>
// CHECK: memref.store %{{.*}}, %[[I]][%[[TOKEN]], %c1] : memref<?x2xi32>
// CHECK: gpu.terminator
// CHECK: %[[WT:.*]] = bufferization.to_tensor %[[W]] restrict writable : memref<?x2xbf16> to tensor<?x2xbf16>
// CHECK: %[[IT:.*]] = bufferization.to_tensor %[[I]] restrict writable : memref<?x2xi32> to tensor<?x2xi32>
// CHECK: return %[[WT]], %[[IT]]
// CHECK-NOT: moe.router
// WARPS-LABEL: func.func @softmax
// WARPS: arith.ceildivui %{{.*}}, %c2 : index
// WARPS: threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c64,
func.func @softmax(%logits: tensor<?x8xf32>) -> (tensor<?x2xbf16>, tensor<?x2xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, renormalize = true>
      : tensor<?x8xf32> -> tensor<?x2xbf16>, tensor<?x2xi32>
  return %w, %i : tensor<?x2xbf16>, tensor<?x2xi32>
}

// -----

// Tests DeepSeek-style selection: sigmoid scores plus a bias for selection,
// 64 experts in 8 groups of 8 (2 experts a lane, a group on 4 lanes: its
// top-2 merges over xor 1 and 2), 2 groups kept, top-4, i64 indices. The
// bias is read in place; lanes fill E exactly, so nothing is masked.
// CHECK-LABEL: func.func @grouped
// CHECK-SAME: (%[[LOGITS:.*]]: tensor<16x64xf32>, %[[BIAS:.*]]: tensor<64xf32>)
// CHECK-DAG: %[[LBUF:.*]] = bufferization.to_buffer %[[LOGITS]] read_only : tensor<16x64xf32> to memref<16x64xf32>
// CHECK-DAG: %[[BBUF:.*]] = bufferization.to_buffer %[[BIAS]] read_only : tensor<64xf32> to memref<64xf32>
// CHECK: gpu.launch
// CHECK-NOT: arith.cmpi slt, %{{.*}}, %c64_i32
// CHECK: memref.load %[[LBUF]]
// CHECK: memref.load %[[LBUF]]
// CHECK-NOT: gpu.shuffle
// CHECK: memref.load %[[BBUF]]
// CHECK: memref.load %[[BBUF]]
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK-NOT: gpu.shuffle  xor %{{.*}}, %c4_i32, %c32_i32 : f32
// CHECK: arith.addf
// CHECK: arith.remsi %{{.*}}, %c4_i32 : i32
// CHECK-COUNT-4: arith.index_cast %{{.*}} : i32 to index
// CHECK: arith.index_cast %{{.*}} : index to i64
// CHECK: return
func.func @grouped(%logits: tensor<16x64xf32>, %bias: tensor<64xf32>)
    -> (tensor<16x4xf32>, tensor<16x4xi64>) {
  %w, %i = moe.router %logits bias %bias routing <scoring = sigmoid, top_k = 4,
      renormalize = true, scaling_factor = 2.5, num_groups = 8, kept_groups = 2>
      : tensor<16x64xf32>, tensor<64xf32> -> tensor<16x4xf32>, tensor<16x4xi64>
  return %w, %i : tensor<16x4xf32>, tensor<16x4xi64>
}

// -----

// Tests the routers the kernel does not take: they keep their op (and get
// the loop form of convert-moe-to-parallel-linalg later).
// CHECK-LABEL: func.func @kept
// CHECK-NOT: gpu.launch
// CHECK: moe.router %{{.*}} routing <scoring = softmax, top_k = 2> : tensor<4x?xf32>
// CHECK: moe.router %{{.*}} routing <scoring = softmax, top_k = 2> : tensor<4x1024xf32>
// CHECK: moe.router %{{.*}} routing <scoring = softmax, top_k = 40> : tensor<4x64xf32>
// CHECK: moe.router %{{.*}} routing <scoring = sigmoid, top_k = 2, num_groups = 4, kept_groups = 2> : tensor<4x48xf32>
// CHECK: moe.router %{{.*}} routing <scoring = sigmoid, top_k = 2, num_groups = 10, kept_groups = 2> : tensor<4x160xf32>
// CHECK: scf.for
// CHECK: moe.router %{{.*}} routing <scoring = softmax, top_k = 2> : tensor<4x8xf32>
func.func @kept(%dynamic: tensor<4x?xf32>, %wide: tensor<4x1024xf32>,
                %deep: tensor<4x64xf32>, %partial: tensor<4x48xf32>,
                %fiveALane: tensor<4x160xf32>, %inLoop: tensor<4x8xf32>)
    -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x40xf32>, tensor<4x2xf32>,
        tensor<4x2xf32>, tensor<4x2xf32>) {
  %w0, %i0 = moe.router %dynamic routing <scoring = softmax, top_k = 2>
      : tensor<4x?xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  // More than 512 experts.
  %w1, %i1 = moe.router %wide routing <scoring = softmax, top_k = 2>
      : tensor<4x1024xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  // Top-k above 32.
  %w2, %i2 = moe.router %deep routing <scoring = softmax, top_k = 40>
      : tensor<4x64xf32> -> tensor<4x40xf32>, tensor<4x40xi32>
  // Groups with lanes past E.
  %w3, %i3 = moe.router %partial routing <scoring = sigmoid, top_k = 2, num_groups = 4, kept_groups = 2>
      : tensor<4x48xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  // Groups of 16 experts on lanes of 5.
  %w4, %i4 = moe.router %fiveALane routing <scoring = sigmoid, top_k = 2, num_groups = 10, kept_groups = 2>
      : tensor<4x160xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %init = tensor.empty() : tensor<4x2xf32>
  %r = scf.for %iv = %c0 to %c2 step %c1 iter_args(%acc = %init) -> tensor<4x2xf32> {
    %w5, %i5 = moe.router %inLoop routing <scoring = softmax, top_k = 2>
        : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
    scf.yield %w5 : tensor<4x2xf32>
  }
  return %w0, %w1, %w2, %w3, %w4, %r : tensor<4x2xf32>, tensor<4x2xf32>,
      tensor<4x40xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>
}
