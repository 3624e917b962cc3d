// RUN: moe-opt %s --convert-grouped-matmul-to-linalg -split-input-file | FileCheck %s

// Tests the CPU lowering of moe.grouped_matmul on tensors: a loop over the
// experts carrying `init` (rows no expert owns keep it); an expert with rows
// takes its dynamic slice of rows, multiplies it by its weight (and gate)
// transposed into fresh f32 accumulators, applies act(gate) * up in f32,
// narrows to the output type and inserts the block at its first row.

// CHECK-LABEL: func.func @gated
// CHECK-SAME: (%[[ROWS:.*]]: tensor<10x64xbf16>, %[[OFFSETS:.*]]: tensor<3xi32>, %[[UP:.*]]: tensor<2x128x64xbf16>, %[[GATE:.*]]: tensor<2x128x64xbf16>, %[[INIT:.*]]: tensor<10x128xbf16>)
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK: %[[RESULT:.*]] = scf.for %[[E:.*]] = %[[C0]] to %[[C2]] step %[[C1]] iter_args(%[[ACC:.*]] = %[[INIT]]) -> (tensor<10x128xbf16>)
// CHECK:   %[[B:.*]] = tensor.extract %[[OFFSETS]][%[[E]]]
// CHECK:   %[[BEGIN:.*]] = arith.index_cast %[[B]] : i32 to index
// CHECK:   %[[NEXT:.*]] = arith.addi %[[E]], %[[C1]]
// CHECK:   %[[N:.*]] = tensor.extract %[[OFFSETS]][%[[NEXT]]]
// CHECK:   %[[END:.*]] = arith.index_cast %[[N]] : i32 to index
// CHECK:   %[[COUNT:.*]] = arith.subi %[[END]], %[[BEGIN]]
// CHECK:   %[[HAS:.*]] = arith.cmpi sgt, %[[COUNT]], %[[C0]]
// CHECK:   scf.if %[[HAS]] -> (tensor<10x128xbf16>)
// CHECK:     %[[MINE:.*]] = tensor.extract_slice %[[ROWS]][%[[BEGIN]], 0] [%[[COUNT]], 64] [1, 1] : tensor<10x64xbf16> to tensor<?x64xbf16>
// CHECK:     %[[W:.*]] = tensor.extract_slice %[[UP]][%[[E]], 0, 0] [1, 128, 64] [1, 1, 1] : tensor<2x128x64xbf16> to tensor<128x64xbf16>
// CHECK:     %[[UPACC:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<?x128xf32>)
// CHECK:     %[[UPSUM:.*]] = linalg.matmul indexing_maps = [#[[$A:.*]], #[[$BT:.*]], #[[$C:.*]]] ins(%[[MINE]], %[[W]] : tensor<?x64xbf16>, tensor<128x64xbf16>) outs(%[[UPACC]] : tensor<?x128xf32>)
// CHECK:     %[[G:.*]] = tensor.extract_slice %[[GATE]][%[[E]], 0, 0] [1, 128, 64] [1, 1, 1]
// CHECK:     %[[GATESUM:.*]] = linalg.matmul indexing_maps = [#[[$A]], #[[$BT]], #[[$C]]] ins(%[[MINE]], %[[G]] : {{.*}}) outs(%{{.*}} : tensor<?x128xf32>)
// CHECK:     %[[H:.*]] = linalg.generic {{.*}} ins(%[[GATESUM]], %[[UPSUM]] : tensor<?x128xf32>, tensor<?x128xf32>)
// CHECK:       math.exp
// CHECK:       arith.divf
// CHECK:       arith.mulf
// CHECK:     %[[NARROW:.*]] = linalg.generic {{.*}} ins(%[[H]] : tensor<?x128xf32>) outs(%{{.*}} : tensor<?x128xbf16>)
// CHECK:       arith.truncf %{{.*}} : f32 to bf16
// CHECK:     %[[PUT:.*]] = tensor.insert_slice %[[NARROW]] into %[[ACC]][%[[BEGIN]], 0] [%[[COUNT]], 128] [1, 1]
// CHECK:     scf.yield %[[PUT]]
// CHECK:   } else {
// CHECK:     scf.yield %[[ACC]]
// CHECK: return %[[RESULT]]
// CHECK-DAG: #[[$A]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$BT]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$C]] = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @gated(%rows: tensor<10x64xbf16>, %offsets: tensor<3xi32>, %up: tensor<2x128x64xbf16>, %gate: tensor<2x128x64xbf16>,
                 %init: tensor<10x128xbf16>) -> tensor<10x128xbf16> {
  %h = moe.grouped_matmul %rows, %offsets weight %up gate %gate activation silu outs(%init)
      : tensor<10x64xbf16>, tensor<3xi32>, tensor<2x128x64xbf16> gate tensor<2x128x64xbf16> outs tensor<10x128xbf16> -> tensor<10x128xbf16>
  return %h : tensor<10x128xbf16>
}

// -----

// An f32 output (router logits: one group) keeps the f32 sums as they are.
// CHECK-LABEL: func.func @f32_output
// CHECK: scf.for {{.*}} -> (tensor<5x6xf32>)
// CHECK:   %[[SUM:.*]] = linalg.matmul {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x64xbf16>, tensor<6x64xbf16>) outs(%{{.*}} : tensor<?x6xf32>)
// CHECK-NOT: linalg.generic
// CHECK:   tensor.insert_slice %[[SUM]] into %{{.*}}[%{{.*}}, 0] [%{{.*}}, 6] [1, 1] : tensor<?x6xf32> into tensor<5x6xf32>
// CHECK-NOT: moe.grouped_matmul
func.func @f32_output(%x: tensor<5x64xbf16>, %whole: tensor<2xi64>, %router: tensor<1x6x64xbf16>,
                      %init: tensor<5x6xf32>) -> tensor<5x6xf32> {
  %logits = moe.grouped_matmul %x, %whole weight %router outs(%init)
      : tensor<5x64xbf16>, tensor<2xi64>, tensor<1x6x64xbf16> outs tensor<5x6xf32> -> tensor<5x6xf32>
  return %logits : tensor<5x6xf32>
}

// -----

// Without a gate the f32 product is narrowed to the output type (f16).
// CHECK-LABEL: func.func @plain_f16
// CHECK: linalg.matmul {{.*}} outs(%{{.*}} : tensor<?x128xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: tensor.insert_slice {{.*}} : tensor<?x128xf16> into tensor<7x128xf16>
func.func @plain_f16(%rows: tensor<7x64xf16>, %offsets: tensor<4xi64>, %down: tensor<3x128x64xf16>, %init: tensor<7x128xf16>) -> tensor<7x128xf16> {
  %y = moe.grouped_matmul %rows, %offsets weight %down outs(%init)
      : tensor<7x64xf16>, tensor<4xi64>, tensor<3x128x64xf16> outs tensor<7x128xf16> -> tensor<7x128xf16>
  return %y : tensor<7x128xf16>
}

// -----

// Gathered rows: first the rows [R, K] (row r = x[sources[r] / 3], zero for a
// negative source), then the loop over the experts as above.
// CHECK-LABEL: func.func @gathered
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xbf16>, %[[SOURCES:.*]]: tensor<12xi32>
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[BF0:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK: %[[ROWS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<12x64xbf16>)
// CHECK:   %[[S:.*]] = tensor.extract %[[SOURCES]][%{{.*}}] : tensor<12xi32>
// CHECK:   %[[SOURCE:.*]] = arith.index_cast %[[S]] : i32 to index
// CHECK:   %[[USED:.*]] = arith.cmpi sge, %[[SOURCE]], %{{.*}} : index
// CHECK:   scf.if %[[USED]] -> (bf16)
// CHECK:     %[[TOKEN:.*]] = arith.divui %[[SOURCE]], %[[C3]] : index
// CHECK:     tensor.extract %[[X]][%[[TOKEN]], %{{.*}}] : tensor<4x64xbf16>
// CHECK:   } else {
// CHECK:     scf.yield %[[BF0]] : bf16
// CHECK: scf.for {{.*}} -> (tensor<12x128xbf16>)
// CHECK:   tensor.extract_slice %[[ROWS]][%{{.*}}, 0] [%{{.*}}, 64] [1, 1] : tensor<12x64xbf16> to tensor<?x64xbf16>
func.func @gathered(%x: tensor<4x64xbf16>, %sources: tensor<12xi32>, %offsets: tensor<4xi64>, %up: tensor<3x128x64xbf16>,
                    %init: tensor<12x128xbf16>) -> tensor<12x128xbf16> {
  %h = moe.grouped_matmul %x gather %sources slots 3, %offsets weight %up outs(%init)
      : tensor<4x64xbf16> gather tensor<12xi32>, tensor<4xi64>, tensor<3x128x64xbf16> outs tensor<12x128xbf16> -> tensor<12x128xbf16>
  return %h : tensor<12x128xbf16>
}
