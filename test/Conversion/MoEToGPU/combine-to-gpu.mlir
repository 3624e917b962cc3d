// RUN: moe-opt %s -split-input-file -convert-moe-combine-to-gpu | FileCheck %s
// RUN: moe-opt %s -split-input-file -convert-moe-combine-to-gpu=block-size=128 | FileCheck %s --check-prefix=BLOCK
// RUN: not moe-opt %s -convert-moe-combine-to-gpu=block-size=48 2>&1 | FileCheck %s --check-prefix=ODD
// RUN: not moe-opt %s -convert-moe-combine-to-gpu=block-size=2048 2>&1 | FileCheck %s --check-prefix=MANY
// ODD: convert-moe-combine-to-gpu: block-size must be a multiple of 32 between 32 and 1024, got 48
// MANY: convert-moe-combine-to-gpu: block-size must be a multiple of 32 between 32 and 1024, got 2048

// Tests the vector kernel of a bf16 combine whose rows an expert op made:
// the slot rows (the inverse of the sources) stay tensor ops for the later
// passes; one thread a 16-byte vector of a result row (64 tokens x 8
// vectors = 512 threads, 2 blocks of 256), and per slot in order the slot's
// row (row 0 standing in for none), a 16-byte aligned load widened to f32,
// scaled by the weight and added only where the slot has a row; the f32 sum
// narrowed and stored as 16 bytes into a fresh buffer returned as a tensor.
// CHECK-LABEL: func.func @bf16_rows
// CHECK-SAME: (%[[X:.*]]: tensor<128x64xbf16>, %[[OFF:.*]]: tensor<5xi32>, %[[G:.*]]: tensor<4x32x64xbf16>, %[[U:.*]]: tensor<4x32x64xbf16>, %[[D:.*]]: tensor<4x64x32xbf16>, %[[SRC:.*]]: tensor<128xi32>, %[[W:.*]]: tensor<64x2xf32>)
// CHECK: %[[Y:.*]] = moe.experts
// CHECK: %[[FILL:.*]] = linalg.fill ins(%{{.*}} : index) outs(%{{.*}} : tensor<128xindex>)
// CHECK: %[[SLOTROWS:.*]] = scf.for %{{.*}} = %c0 to %c128 step %c1 iter_args(%{{.*}} = %[[FILL]]) -> (tensor<128xindex>)
// CHECK: tensor.insert
// CHECK: } {moe.independent_iterations}
// CHECK-DAG: %[[ROWS:.*]] = bufferization.to_buffer %[[Y]] read_only : tensor<128x64xbf16> to memref<128x64xbf16>
// CHECK-DAG: %[[SLOTS:.*]] = bufferization.to_buffer %[[SLOTROWS]] read_only : tensor<128xindex> to memref<128xindex>
// CHECK-DAG: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only : tensor<64x2xf32> to memref<64x2xf32>
// CHECK-DAG: %[[OUT:.*]] = memref.alloc() : memref<64x64xbf16>
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c2, %{{.*}} = %c1, %{{.*}} = %c1) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c256,
// CHECK: %[[BASE:.*]] = arith.muli %[[BX]], %c256 : index
// CHECK: %[[THREAD:.*]] = arith.addi %[[BASE]], %[[TX]] : index
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[THREAD]], %c512 : index
// CHECK: scf.if %[[IN]] {
// CHECK: %[[TOKEN:.*]] = arith.divui %[[THREAD]], %c8 : index
// CHECK: %[[VEC:.*]] = arith.remui %[[THREAD]], %c8 : index
// CHECK: %[[COL:.*]] = arith.muli %[[VEC]], %c8 : index
// CHECK: %[[ROW0:.*]] = memref.load %[[SLOTS]][%{{.*}}] : memref<128xindex>
// CHECK: %[[USED0:.*]] = arith.cmpi sge, %[[ROW0]], %c0 : index
// CHECK: %[[SAFE0:.*]] = arith.select %[[USED0]], %[[ROW0]], %c0 : index
// CHECK: %[[V0:.*]] = vector.load %[[ROWS]][%[[SAFE0]], %[[COL]]] {alignment = 16 : i64} : memref<128x64xbf16>, vector<8xbf16>
// CHECK: %[[F0:.*]] = arith.extf %[[V0]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[W0:.*]] = memref.load %[[WB]][%[[TOKEN]], %c0] : memref<64x2xf32>
// CHECK: %[[B0:.*]] = vector.broadcast %[[W0]] : f32 to vector<8xf32>
// CHECK: %[[P0:.*]] = arith.mulf %[[B0]], %[[F0]] : vector<8xf32>
// CHECK: %[[S0:.*]] = arith.addf %[[P0]], %{{.*}} : vector<8xf32>
// CHECK: %[[ACC0:.*]] = arith.select %[[USED0]], %[[S0]], %{{.*}} : vector<8xf32>
// CHECK: %[[ROW1:.*]] = memref.load %[[SLOTS]][%{{.*}}] : memref<128xindex>
// CHECK: %[[USED1:.*]] = arith.cmpi sge, %[[ROW1]], %c0 : index
// CHECK: vector.load %[[ROWS]][%{{.*}}, %[[COL]]] {alignment = 16 : i64}
// CHECK: memref.load %[[WB]][%[[TOKEN]], %c1] : memref<64x2xf32>
// CHECK: %[[S1:.*]] = arith.addf %[[ACC0]], %{{.*}} : vector<8xf32>
// CHECK: %[[ACC1:.*]] = arith.select %[[USED1]], %[[S1]], %[[ACC0]] : vector<8xf32>
// CHECK: %[[NARROW:.*]] = arith.truncf %[[ACC1]] : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %[[NARROW]], %[[OUT]][%[[TOKEN]], %[[COL]]] {alignment = 16 : i64} : memref<64x64xbf16>, vector<8xbf16>
// CHECK: gpu.terminator
// CHECK: %[[RESULT:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<64x64xbf16> to tensor<64x64xbf16>
// CHECK: return %[[RESULT]]
// CHECK-NOT: moe.combine
// BLOCK-LABEL: func.func @bf16_rows
// BLOCK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c4, %{{.*}} = %c1, %{{.*}} = %c1) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c128,
func.func @bf16_rows(%x: tensor<128x64xbf16>, %offsets: tensor<5xi32>,
                     %gate: tensor<4x32x64xbf16>, %up: tensor<4x32x64xbf16>,
                     %down: tensor<4x64x32xbf16>, %sources: tensor<128xi32>,
                     %w: tensor<64x2xf32>) -> tensor<64x64xbf16> {
  %y = moe.experts %x, %offsets gate %gate up %up down %down activation silu layout out_in
      : (tensor<128x64xbf16>, tensor<5xi32>, tensor<4x32x64xbf16>, tensor<4x32x64xbf16>, tensor<4x64x32xbf16>) -> tensor<128x64xbf16>
  %out = moe.combine %y, %sources, %w
      : tensor<128x64xbf16>, tensor<128xi32>, tensor<64x2xf32> -> tensor<64x64xbf16>
  return %out : tensor<64x64xbf16>
}

// -----

// Tests f32 rows: 4 lanes a vector, no widening or narrowing; the last block
// is partial (3 tokens x 4 vectors = 12 threads, one block).
// CHECK-LABEL: func.func @f32_rows
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c1,
// CHECK: arith.cmpi ult, %{{.*}}, %c12 : index
// CHECK: vector.load %{{.*}}[%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<6x16xf32>, vector<4xf32>
// CHECK-NOT: arith.extf
// CHECK-NOT: arith.truncf
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<3x16xf32>, vector<4xf32>
func.func @f32_rows(%x: tensor<6x16xf32>, %offsets: tensor<3xi32>,
                    %gate: tensor<2x8x16xf32>, %up: tensor<2x8x16xf32>,
                    %down: tensor<2x16x8xf32>, %sources: tensor<6xi32>,
                    %w: tensor<3x2xf32>) -> tensor<3x16xf32> {
  %y = moe.experts %x, %offsets gate %gate up %up down %down activation silu layout out_in
      : (tensor<6x16xf32>, tensor<3xi32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x16x8xf32>) -> tensor<6x16xf32>
  %out = moe.combine %y, %sources, %w
      : tensor<6x16xf32>, tensor<6xi32>, tensor<3x2xf32> -> tensor<3x16xf32>
  return %out : tensor<3x16xf32>
}

// -----

// Tests the combines the kernel leaves to the parallel form: rows from the
// caller (alignment unknown), rows of a width that is not whole 16-byte
// vectors, dynamic tokens, and a combine inside a loop.
// CHECK-LABEL: func.func @not_taken
// CHECK-NOT: gpu.launch
// CHECK-COUNT-4: moe.combine
// CHECK-NOT: gpu.launch
func.func @not_taken(%rows: tensor<8x64xbf16>, %x: tensor<8x12xbf16>,
                     %offsets: tensor<3xi32>, %gate: tensor<2x8x12xbf16>,
                     %up: tensor<2x8x12xbf16>, %down: tensor<2x12x8xbf16>,
                     %sources: tensor<8xi32>, %w: tensor<4x2xf32>,
                     %dyn: tensor<?x2xf32>, %n: index, %x64: tensor<8x64xbf16>,
                     %gate64: tensor<2x8x64xbf16>, %up64: tensor<2x8x64xbf16>,
                     %down64: tensor<2x64x8xbf16>)
    -> (tensor<4x64xbf16>, tensor<4x12xbf16>, tensor<?x64xbf16>, tensor<4x64xbf16>) {
  %a = moe.combine %rows, %sources, %w
      : tensor<8x64xbf16>, tensor<8xi32>, tensor<4x2xf32> -> tensor<4x64xbf16>
  %y = moe.experts %x, %offsets gate %gate up %up down %down activation silu layout out_in
      : (tensor<8x12xbf16>, tensor<3xi32>, tensor<2x8x12xbf16>, tensor<2x8x12xbf16>, tensor<2x12x8xbf16>) -> tensor<8x12xbf16>
  %b = moe.combine %y, %sources, %w
      : tensor<8x12xbf16>, tensor<8xi32>, tensor<4x2xf32> -> tensor<4x12xbf16>
  %y64d = moe.experts %x64, %offsets gate %gate64 up %up64 down %down64 activation silu layout out_in
      : (tensor<8x64xbf16>, tensor<3xi32>, tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<2x64x8xbf16>) -> tensor<8x64xbf16>
  %c = moe.combine %y64d, %sources, %dyn
      : tensor<8x64xbf16>, tensor<8xi32>, tensor<?x2xf32> -> tensor<?x64xbf16>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %init = tensor.empty() : tensor<4x64xbf16>
  %y64 = moe.experts %x64, %offsets gate %gate64 up %up64 down %down64 activation silu layout out_in
      : (tensor<8x64xbf16>, tensor<3xi32>, tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<2x64x8xbf16>) -> tensor<8x64xbf16>
  %d = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %init) -> tensor<4x64xbf16> {
    %e = moe.combine %y64, %sources, %w
        : tensor<8x64xbf16>, tensor<8xi32>, tensor<4x2xf32> -> tensor<4x64xbf16>
    scf.yield %e : tensor<4x64xbf16>
  }
  return %a, %b, %c, %d : tensor<4x64xbf16>, tensor<4x12xbf16>, tensor<?x64xbf16>, tensor<4x64xbf16>
}
