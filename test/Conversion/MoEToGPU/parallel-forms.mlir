// RUN: moe-opt %s -convert-moe-to-parallel-linalg -canonicalize | FileCheck %s

// moe.experts: each row's expert from the offsets (experts whose rows end at
// or before it), then per (row, column) f32 dot products: gate and up fused in
// one loop over H with SiLU, narrowed to bf16; the down projection per
// (row, output column), iterated with rows innermost (neighbouring threads
// share a weight column). Rows of no expert (index 4) are 0.
// CHECK: #[[ROWS_INNER:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-LABEL: func.func @experts
// CHECK: %[[ROWEXP:.*]] = linalg.generic {{.*}}iterator_types = ["parallel"]{{.*}}outs(%{{.*}} : tensor<16xindex>)
// CHECK:   scf.for %{{.*}} = %c0 to %c4
// CHECK:     arith.cmpi ule
// CHECK: %[[HIDDEN:.*]] = linalg.generic {indexing_maps = [#[[ROWS_INNER]]], iterator_types = ["parallel", "parallel"]{{.*}}outs(%{{.*}} : tensor<16x32xbf16>)
// CHECK:   %[[E:.*]] = tensor.extract %[[ROWEXP]]
// CHECK:   %[[ROUTED:.*]] = arith.cmpi ult, %[[E]], %c4
// CHECK:   scf.if %[[ROUTED]] -> (bf16)
// CHECK:     scf.for %{{.*}} = %c0 to %c16 {{.*}} -> (f32, f32)
// CHECK:       tensor.extract %arg3[%[[E]],
// CHECK:       tensor.extract %arg2[%[[E]],
// CHECK:     math.exp
// CHECK:     arith.truncf %{{.*}} : f32 to bf16
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}}outs(%{{.*}} : tensor<16x16xbf16>)
// CHECK:   scf.for %{{.*}} = %c0 to %c32 {{.*}} -> (f32)
// CHECK:     tensor.extract %[[HIDDEN]]
// CHECK:     tensor.extract %arg4
func.func @experts(%rows: tensor<16x16xbf16>, %offsets: tensor<5xi32>, %g: tensor<4x32x16xbf16>, %u: tensor<4x32x16xbf16>, %d: tensor<4x16x32xbf16>) -> tensor<16x16xbf16> {
  %y = moe.experts %rows, %offsets gate %g up %u down %d activation silu layout out_in : (tensor<16x16xbf16>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<16x16xbf16>
  return %y : tensor<16x16xbf16>
}

// moe.dispatch without a capacity, static sizes: the 16 slots form one chunk
// of 64; independent counts per (expert, chunk); per expert (a loop marked
// moe.independent_iterations) its count and the start of each chunk in one
// walk (few chunks); sequential offsets over 4 experts; each (expert, chunk)
// filling its rows of `sources` (independent) from its expert's first row
// plus its chunk's start, then the rows gathered per element.
// CHECK-LABEL: func.func @dispatch
// CHECK: %[[CHUNKS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}}outs(%{{.*}} : tensor<4x1xindex>)
// CHECK: %[[SCAN:.*]]:2 = scf.for %{{.*}} = %c0 to %c4 {{.*}} -> (tensor<4xindex>, tensor<4x1xindex>)
// CHECK:   tensor.extract %[[CHUNKS]]
// CHECK: } {moe.independent_iterations}
// CHECK: %[[PREFIX:.*]]:3 = scf.for %{{.*}} = %c0 to %c4 {{.*}} -> (tensor<5xi32>, index, tensor<4xindex>)
// CHECK:   tensor.extract %[[SCAN]]#0
// CHECK: %[[SOURCES:.*]] = scf.for %{{.*}} = %c0 to %c4 {{.*}} -> (tensor<16xi32>)
// CHECK:   tensor.extract %[[PREFIX]]#2
// CHECK:   tensor.extract %[[SCAN]]#1
// CHECK: } {moe.independent_iterations}
// CHECK: %[[ROWS:.*]] = linalg.generic {{.*}}outs(%{{.*}} : tensor<16x16xf32>)
// CHECK:   tensor.extract %[[SOURCES]]
// CHECK:   arith.divui
// CHECK: return %[[ROWS]], %[[PREFIX]]#0, %[[SOURCES]]
func.func @dispatch(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>) -> (tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 4 : tensor<8x16xf32>, tensor<8x2xi32> -> tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>
  return %rows, %offsets, %sources : tensor<16x16xf32>, tensor<5xi32>, tensor<16xi32>
}

// 200 slots are 4 chunks (the last one 8 slots): 4 experts x 4 chunks of
// counts, one walk per expert, and 16 independent writers, each over its
// chunk's slots.
// CHECK-LABEL: func.func @dispatch_chunks
// CHECK-DAG: %[[C200:.*]] = arith.constant 200 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: linalg.generic {{.*}}outs(%{{.*}} : tensor<4x4xindex>)
// CHECK:   %[[BEGIN:.*]] = arith.muli %{{.*}}, %[[C64]]
// CHECK:   %[[END:.*]] = arith.minui %{{.*}}, %[[C200]]
// CHECK:   scf.for %{{.*}} = %[[BEGIN]] to %[[END]]
// CHECK: scf.for %{{.*}} = %c0 to %c4 {{.*}} -> (tensor<4xindex>, tensor<4x4xindex>)
// CHECK: } {moe.independent_iterations}
// CHECK: scf.for %{{.*}} = %c0 to %c16 {{.*}} -> (tensor<200xi32>)
// CHECK: } {moe.independent_iterations}
func.func @dispatch_chunks(%x: tensor<100x16xf32>, %idx: tensor<100x2xi32>) -> (tensor<200x16xf32>, tensor<5xi32>, tensor<200xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 4 : tensor<100x16xf32>, tensor<100x2xi32> -> tensor<200x16xf32>, tensor<5xi32>, tensor<200xi32>
  return %rows, %offsets, %sources : tensor<200x16xf32>, tensor<5xi32>, tensor<200xi32>
}

// 1200 slots are 19 chunks, more than one walk takes: a two-level scan over 5
// groups of 4 chunks: sums per (expert, group), one walk per expert over its
// 5 groups (its count and each group's start), then per (expert, group) (20
// independent walkers) the start of each of its chunks; 4 x 19 writers.
// CHECK-LABEL: func.func @dispatch_groups
// CHECK: %[[CHUNKS:.*]] = linalg.generic {{.*}}outs(%{{.*}} : tensor<4x19xindex>)
// CHECK: %[[GROUPS:.*]] = linalg.generic {{.*}}outs(%{{.*}} : tensor<4x5xindex>)
// CHECK:   tensor.extract %[[CHUNKS]]
// CHECK: %[[SCAN:.*]]:2 = scf.for %{{.*}} = %c0 to %c4 {{.*}} -> (tensor<4xindex>, tensor<4x5xindex>)
// CHECK:   tensor.extract %[[GROUPS]]
// CHECK: } {moe.independent_iterations}
// CHECK: %[[STARTS:.*]] = scf.for %{{.*}} = %c0 to %c20 {{.*}} -> (tensor<4x19xindex>)
// CHECK:   tensor.extract %[[SCAN]]#1
// CHECK:   tensor.extract %[[CHUNKS]]
// CHECK: } {moe.independent_iterations}
// CHECK: scf.for %{{.*}} = %c0 to %c76 {{.*}} -> (tensor<1200xi32>)
// CHECK:   tensor.extract %[[STARTS]]
// CHECK: } {moe.independent_iterations}
func.func @dispatch_groups(%x: tensor<600x16xf32>, %idx: tensor<600x2xi32>) -> (tensor<1200x16xf32>, tensor<5xi32>, tensor<1200xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 4 : tensor<600x16xf32>, tensor<600x2xi32> -> tensor<1200x16xf32>, tensor<5xi32>, tensor<1200xi32>
  return %rows, %offsets, %sources : tensor<1200x16xf32>, tensor<5xi32>, tensor<1200xi32>
}

// With a capacity every expert walks all slots itself (the per-position
// capacity test needs the expert's earlier slots): independent per-expert
// counts, offsets over the kept counts, one writer per expert.
// CHECK-LABEL: func.func @dispatch_capacity
// CHECK: %[[COUNTS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel"]{{.*}}outs(%{{.*}} : tensor<4xindex>)
// CHECK: %[[PREFIX:.*]]:3 = scf.for %{{.*}} = %c0 to %c4 {{.*}} -> (tensor<5xi32>, index, tensor<4xindex>)
// CHECK: %[[SOURCES:.*]] = scf.for %{{.*}} = %c0 to %c4 {{.*}} -> (tensor<12xi32>)
// CHECK:   tensor.extract %[[PREFIX]]#2
// CHECK: } {moe.independent_iterations}
func.func @dispatch_capacity(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<12xi32>) {
  %rows, %offsets, %sources = moe.dispatch %x, %idx experts 4 capacity 3 drop position : tensor<8x16xf32>, tensor<8x2xi32> -> tensor<12x16xf32>, tensor<5xi32>, tensor<12xi32>
  return %rows, %offsets, %sources : tensor<12x16xf32>, tensor<5xi32>, tensor<12xi32>
}

// moe.combine: the row of each of the 16 slots (rows independent), then per
// (token, column) the weighted sum over the 2 slots.
// CHECK-LABEL: func.func @combine
// CHECK: %[[SLOTS:.*]] = scf.for %{{.*}} = %c0 to %c16 {{.*}} -> (tensor<16xindex>)
// CHECK: } {moe.independent_iterations}
// CHECK: linalg.generic {{.*}}outs(%{{.*}} : tensor<8x16xf32>)
// CHECK:   scf.for %{{.*}} = %c0 to %c2 {{.*}} -> (f32)
// CHECK:     tensor.extract %[[SLOTS]]
func.func @combine(%y: tensor<16x16xf32>, %sources: tensor<16xi32>, %w: tensor<8x2xf32>) -> tensor<8x16xf32> {
  %out = moe.combine %y, %sources, %w : tensor<16x16xf32>, tensor<16xi32>, tensor<8x2xf32> -> tensor<8x16xf32>
  return %out : tensor<8x16xf32>
}

// moe.router keeps its CPU form, with the token loop marked independent.
// CHECK-LABEL: func.func @router
// CHECK: scf.for
// CHECK: } {moe.independent_iterations}
func.func @router(%logits: tensor<8x4xf32>) -> (tensor<8x2xf32>, tensor<8x2xi32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2, renormalize = true> : tensor<8x4xf32> -> tensor<8x2xf32>, tensor<8x2xi32>
  return %w, %i : tensor<8x2xf32>, tensor<8x2xi32>
}
