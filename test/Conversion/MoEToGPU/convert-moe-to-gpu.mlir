// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file | FileCheck %s

// Tests the tensor-core kernel of moe.grouped_matmul: host-side TMA
// descriptors (rows, weights flattened to [E·N, K]), the tile counter of the
// dynamic schedule (allocated at the function's entry, zeroed before the
// launch), one gpu.launch of a persistent grid of min(132, ceil(N / columns
// per tile) x (ceil(R / 128) + E)) blocks of 384 threads with four 48 KiB
// stages (+1 KiB for alignment, + the ring of tile indices and the per-expert
// tile prefix); the prefix over the offsets; the producer warpgroup (fewer
// registers, one thread takes tiles from the counter, hands them over the
// ring and streams K-slices once a stage is released); the consumer
// warpgroups (more registers, a tile from the ring, wgmma m64n256k16 four
// times per K-slice with one commit group left in flight, the stage released
// after it, a warpgroup without rows in the tile only releasing stages) and
// the gated epilogue (SiLU(gate) * up, narrowed, masked by the expert's end
// row); then f32 outputs (router logits: stored unnarrowed) and output sizes
// the column tiles do not divide (columns past N not stored).

// CHECK-LABEL: func.func @gated
// CHECK: %[[COUNTER:.*]] = memref.alloc() : memref<1xi32>
// CHECK-DAG: memref.collapse_shape %arg2 {{\[\[}}0, 1], [2]] : memref<8x256x128xbf16> into memref<2048x128xbf16>
// CHECK-DAG: memref.collapse_shape %arg3 {{\[\[}}0, 1], [2]] : memref<8x256x128xbf16> into memref<2048x128xbf16>
// CHECK: nvgpu.tma.create.descriptor %{{.*}} box[%{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<128x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = l2promo_256b, oob = zero, interleave = none>
// CHECK: gpu.memset %[[COUNTER]], %{{.*}} : memref<1xi32>, i32
// 4 x 48 KiB + 1 KiB + 4 x 4 (ring) + 9 x 4 (prefix).
// CHECK: %[[SMEM:.*]] = arith.constant 197684 : i32
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c20, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads({{.*}}) in (%{{.*}} = %c384, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) dynamic_shared_memory_size %[[SMEM]]
// CHECK:   gpu.dynamic_shared_memory
// CHECK:   %[[RING:.*]] = memref.view {{.*}} to memref<4xi32, #gpu.address_space<workgroup>>
// CHECK:   %[[PREFIX:.*]] = memref.view {{.*}} to memref<9xi32, #gpu.address_space<workgroup>>
// CHECK:   scf.for %{{.*}} = %{{.*}} to %c9 step %c384
// CHECK:     scf.for
// CHECK:       arith.ceildivui
// CHECK:     memref.store %{{.*}}, %[[PREFIX]]
// CHECK:   %[[FULL:.*]] = nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 4>
// CHECK:   %[[EMPTY:.*]] = nvgpu.mbarrier.create
// CHECK:   %[[TILEFULL:.*]] = nvgpu.mbarrier.create
// CHECK:   %[[TILEEMPTY:.*]] = nvgpu.mbarrier.create
// CHECK:   nvgpu.mbarrier.init %[[FULL]][%{{.*}}], %c1
// Every consumer warp (8) releases a stage.
// CHECK:   nvgpu.mbarrier.init %[[EMPTY]][%{{.*}}], %c8
// CHECK:   nvgpu.mbarrier.init %[[TILEFULL]][%{{.*}}], %c1
// CHECK:   nvgpu.mbarrier.init %[[TILEEMPTY]][%{{.*}}], %c256
// CHECK:   nvgpu.tma.prefetch.descriptor
// CHECK:   gpu.barrier
// CHECK:   memref.load %[[PREFIX]][%c8{{(_[0-9]+)?}}]
// The producer.
// CHECK:   scf.if
// CHECK:     nvvm.setmaxregister  decrease 40
// CHECK:     scf.while
// CHECK:       memref.atomic_rmw addi %{{.*}}, %[[COUNTER]][%{{.*}}] : (i32, memref<1xi32>) -> i32
// CHECK:       nvgpu.mbarrier.try_wait.parity %[[TILEEMPTY]]
// CHECK:       memref.store %{{.*}}, %[[RING]]
// CHECK:       nvgpu.mbarrier.arrive %[[TILEFULL]]
// CHECK:       scf.condition
// CHECK:     } do {
// Binary search of the tile's expert: ceil(log2(8)) steps.
// CHECK:       scf.for %{{.*}} = %{{.*}} to %c3
// CHECK:         memref.load %[[PREFIX]]
// CHECK:       scf.for
// CHECK:         nvgpu.mbarrier.try_wait.parity %[[EMPTY]]
// A's box: 16 rows (2 KiB) for tiles of at most 16 rows, 64 rows (8 KiB)
// for at most 64, else 128 (16 KiB); B: 2 x 16 KiB.
// CHECK:         %[[A64:.*]] = arith.select %{{.*}}, %c8192, %c16384
// CHECK:         %[[A:.*]] = arith.select %{{.*}}, %c2048, %[[A64]]
// CHECK:         %[[TX:.*]] = arith.addi %[[A]], %c32768
// CHECK:         nvgpu.mbarrier.arrive.expect_tx %[[FULL]][%{{.*}}], %[[TX]]
// CHECK:         scf.if
// CHECK:           nvgpu.tma.async.load {{.*}} -> memref<16x64xbf16, #gpu.address_space<workgroup>>
// CHECK:         } else {
// CHECK:           scf.if
// CHECK:             nvgpu.tma.async.load {{.*}} -> memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK:           } else {
// CHECK:             nvgpu.tma.async.load {{.*}} -> memref<128x64xbf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-2: nvgpu.tma.async.load {{.*}} -> memref<128x64xbf16, #gpu.address_space<workgroup>>
// The consumers.
// CHECK:   } else {
// CHECK:     nvvm.setmaxregister  increase 232
// CHECK:     scf.while
// CHECK:       nvgpu.mbarrier.try_wait.parity %[[TILEFULL]]
// CHECK:       memref.load %[[RING]]
// CHECK:       nvgpu.mbarrier.arrive %[[TILEEMPTY]]
// CHECK:     } do {
// CHECK:       scf.if %{{.*}} -> (index) {
// CHECK:         scf.for %{{.*}} = %{{.*}} to %c2{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (index, !llvm.struct<(f32,
// CHECK:           nvgpu.mbarrier.try_wait.parity %[[FULL]]
// CHECK:           nvvm.wgmma.fence.aligned
// CHECK-COUNT-4:   nvvm.wgmma.mma_async {{.*}} <m = 64, n = 256, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK:           nvvm.wgmma.commit.group.sync.aligned
// CHECK:           nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:           scf.if
// CHECK:             nvvm.bar.warp.sync
// CHECK:             nvgpu.mbarrier.arrive %[[EMPTY]]
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 0
// CHECK:         nvvm.bar.warp.sync
// CHECK:         nvgpu.mbarrier.arrive %[[EMPTY]]
// CHECK:         llvm.extractvalue %{{.*}}[0]
// CHECK:         llvm.extractvalue %{{.*}}[64]
// CHECK:         math.exp
// CHECK:         arith.truncf %{{.*}} : f32 to bf16
// CHECK:         memref.store %{{.*}}, %arg4[
// CHECK:       } else {
// CHECK:         scf.for
// CHECK:           nvgpu.mbarrier.try_wait.parity %[[FULL]]
// CHECK:           nvvm.bar.warp.sync
// CHECK:           nvgpu.mbarrier.arrive %[[EMPTY]]
// CHECK-NOT: moe.grouped_matmul
func.func @gated(%rows: memref<256x128xbf16>, %offsets: memref<9xi64>, %up: memref<8x256x128xbf16>, %gate: memref<8x256x128xbf16>,
                 %out: memref<256x256xbf16>) {
  moe.grouped_matmul %rows, %offsets weight %up gate %gate activation silu outs(%out)
      : memref<256x128xbf16>, memref<9xi64>, memref<8x256x128xbf16> gate memref<8x256x128xbf16> outs memref<256x256xbf16>
  return
}

// -----

// Without a gate: 256 output columns per tile when N allows, every register
// stored as it is; f16 operands.
// CHECK-LABEL: func.func @plain
// 2 column tiles x (1 + 3) row tiles at most: 8 blocks.
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c8, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}})
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 256, k = 16>, D[<f32>, <one>], A[<f16>
// CHECK-NOT: math.exp
// CHECK: arith.truncf %{{.*}} : f32 to f16
// Full column tiles: no column test before the store.
// CHECK-NOT: scf.if
// CHECK: memref.store %{{.*}}, %arg3[
func.func @plain(%rows: memref<100x64xf16>, %offsets: memref<4xi32>, %down: memref<3x512x64xf16>, %out: memref<100x512xf16>) {
  moe.grouped_matmul %rows, %offsets weight %down outs(%out)
      : memref<100x64xf16>, memref<4xi32>, memref<3x512x64xf16> outs memref<100x512xf16>
  return
}

// -----

// N = 384 is not a multiple of 256: tiles of 128 columns, wgmma n128.
// CHECK-LABEL: func.func @narrow
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c9,
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>
func.func @narrow(%rows: memref<128x64xbf16>, %offsets: memref<3xi64>, %down: memref<2x384x64xbf16>, %out: memref<128x384xbf16>) {
  moe.grouped_matmul %rows, %offsets weight %down outs(%out)
      : memref<128x64xbf16>, memref<3xi64>, memref<2x384x64xbf16> outs memref<128x384xbf16>
  return
}

// -----

// Router logits: one group (offsets [0, T]), E = 8 columns, f32 output. One
// tile as wide as N (wgmma n8, weight box of 8 rows: 16 KiB + 1 KiB a
// stage); the grid is 1 x (ceil(200 / 128) + 1) blocks. The accumulators are stored
// as they are (no narrowing); 8 divides the tile, so no column test.
// CHECK-LABEL: func.func @router_logits
// CHECK: nvgpu.tma.create.descriptor %{{.*}} box[%{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<128x64xbf16, #gpu.address_space<workgroup>>
// CHECK: memref.collapse_shape %arg2 {{\[\[}}0, 1], [2]] : memref<1x8x128xbf16> into memref<8x128xbf16>
// CHECK: nvgpu.tma.create.descriptor %{{.*}} box[%{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<8x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = l2promo_256b, oob = zero, interleave = none>
// CHECK: %[[SMEM:.*]] = arith.constant 70680 : i32
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c3, %{{.*}} = %c1{{.*}}, %{{.*}} = %{{.*}}) {{.*}} dynamic_shared_memory_size %[[SMEM]]
// CHECK: %[[TX:.*]] = arith.addi %{{.*}}, %c1024
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %[[TX]]
// CHECK: nvgpu.tma.async.load {{.*}} -> memref<128x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.tma.async.load {{.*}} -> memref<8x64xbf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 8, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>] : !llvm.struct<(f32, f32, f32, f32)>
// CHECK-NOT: arith.truncf
// CHECK: %[[V:.*]] = llvm.extractvalue %{{.*}}[0]
// CHECK-NOT: scf.if
// CHECK: memref.store %[[V]], %arg3[%{{.*}}, %{{.*}}] : memref<200x8xf32>
// CHECK-NOT: arith.truncf
func.func @router_logits(%x: memref<200x128xbf16>, %offsets: memref<2xi64>, %router: memref<1x8x128xbf16>, %logits: memref<200x8xf32>) {
  moe.grouped_matmul %x, %offsets weight %router outs(%logits)
      : memref<200x128xbf16>, memref<2xi64>, memref<1x8x128xbf16> outs memref<200x8xf32>
  return
}

// -----

// E = 60: one 64-column tile (wgmma n64; TMA zero-fills weight rows 60..63);
// columns >= 60 are computed but not stored.
// CHECK-LABEL: func.func @masked_columns
// CHECK: nvgpu.tma.create.descriptor {{.*}} -> <tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c3,
// CHECK: %[[TX:.*]] = arith.addi %{{.*}}, %c8192
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %[[TX]]
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>
// CHECK: %[[N:.*]] = arith.constant 60 : index
// CHECK: %[[INSIDE:.*]] = arith.cmpi ult, %{{.*}}, %[[N]] : index
// CHECK-NEXT: scf.if %[[INSIDE]] {
// CHECK-NEXT: memref.store %{{.*}} : memref<200x60xf32>
func.func @masked_columns(%x: memref<200x128xbf16>, %offsets: memref<2xi64>, %router: memref<1x60x128xbf16>, %logits: memref<200x60xf32>) {
  moe.grouped_matmul %x, %offsets weight %router outs(%logits)
      : memref<200x128xbf16>, memref<2xi64>, memref<1x60x128xbf16> outs memref<200x60xf32>
  return
}

// -----

// N = 300 > 256: two 256-column tiles, the second one partial (its weight
// rows past an expert's 300 are the next expert's or zero-filled; those
// columns are not stored); f16 narrowed as usual.
// CHECK-LABEL: func.func @wide_masked
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c8,
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 256, k = 16>
// CHECK: %[[N:.*]] = arith.constant 300 : index
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: %[[INSIDE:.*]] = arith.cmpi ult, %{{.*}}, %[[N]] : index
// CHECK-NEXT: scf.if %[[INSIDE]] {
// CHECK-NEXT: memref.store %{{.*}} : memref<200x300xf16>
func.func @wide_masked(%rows: memref<200x128xf16>, %offsets: memref<3xi32>, %w: memref<2x300x128xf16>, %out: memref<200x300xf16>) {
  moe.grouped_matmul %rows, %offsets weight %w outs(%out)
      : memref<200x128xf16>, memref<3xi32>, memref<2x300x128xf16> outs memref<200x300xf16>
  return
}

// -----

// Gathered rows (moe-fuse): no tensor map of A; the whole producer
// warpgroup copies A's rows from the tokens named by the sources (source / 2,
// zero-filled for a negative source) with 16-byte cp.async into the swizzled
// stage, one copy per 16-row pass (8 passes), as one cp.async group per
// slice. Each thread waits for its copies of the slice two back (4 stages -
// 2), fences the async proxy and arrives on that slice's `full` (1 + 128
// arrivals: the leader's expect_tx of the weights' TMA bytes and every
// producer's), and does the same for the last two slices after the tile
// loop. The other producers read the tile ring too (tileEmpty expects
// 256 + 127).
// CHECK-LABEL: func.func @gathered
// CHECK-COUNT-2: nvgpu.tma.create.descriptor
// CHECK-NOT: nvgpu.tma.create.descriptor
// CHECK: gpu.launch
// CHECK:   nvgpu.mbarrier.init %[[FULL:.*]][%{{.*}}], %c129
// CHECK:   nvgpu.mbarrier.init %{{.*}}[%{{.*}}], %c8
// CHECK:   nvgpu.mbarrier.init %{{.*}}[%{{.*}}], %c1
// CHECK:   nvgpu.mbarrier.init %{{.*}}[%{{.*}}], %c383
// CHECK:   nvvm.setmaxregister  decrease 40
// CHECK:   scf.while
// CHECK:     scf.if %{{.*}} -> (i32) {
// CHECK:       memref.atomic_rmw
// CHECK:     } else {
// CHECK:       memref.load
// CHECK:   } do {
// CHECK:       scf.if
// CHECK:         nvgpu.mbarrier.arrive.expect_tx %[[FULL]][%{{.*}}], %c32768
// CHECK-COUNT-2: nvgpu.tma.async.load {{.*}} -> memref<128x64xbf16, #gpu.address_space<workgroup>>
// CHECK:       %[[STAGEA:.*]] = memref.view {{.*}} to memref<8192xbf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-8: nvgpu.device_async_copy %arg0[%{{.*}}, %{{.*}}], %[[STAGEA]][%{{.*}}], 8, %{{.*}} {bypassL1} : memref<128x128xbf16> to memref<8192xbf16, #gpu.address_space<workgroup>>
// CHECK:       nvvm.cp.async.commit.group
// CHECK:       scf.if
// CHECK-NEXT:    nvvm.cp.async.wait.group 2
// CHECK:         nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT:    nvgpu.mbarrier.arrive %[[FULL]]
// CHECK:     nvvm.cp.async.wait.group 0
// CHECK-COUNT-2: nvgpu.mbarrier.arrive %[[FULL]]
// CHECK:   nvvm.setmaxregister  increase 232
// CHECK:       nvgpu.mbarrier.try_wait.parity %[[FULL]]
// CHECK-NOT:   nvvm.fence.proxy
// CHECK:       nvvm.wgmma.fence.aligned
func.func @gathered(%x: memref<128x128xbf16>, %sources: memref<256xi32>, %offsets: memref<9xi64>, %up: memref<8x256x128xbf16>,
                    %gate: memref<8x256x128xbf16>, %h: memref<256x256xbf16>) {
  moe.grouped_matmul %x gather %sources slots 2, %offsets weight %up gate %gate activation silu outs(%h)
      : memref<128x128xbf16> gather memref<256xi32>, memref<9xi64>, memref<8x256x128xbf16>
        gate memref<8x256x128xbf16> outs memref<256x256xbf16>
  return
}

// -----

// The fused router (moe.fused_router): the router GEMM's 16 K-slices (H =
// 1024) in 4 splits of 4, each a tile of the persistent schedule (one row
// tile: 4 tiles, grid of 8 blocks). A consumer warpgroup stores its split's
// f32 partial logits, makes them visible to the GPU, meets its warpgroup at
// its named barrier and counts in at the row tile's arrivals. Once the tiles
// are gone, warp w of the grid routes tokens w, w + 64, ...: lane 0 waits
// for the tile's arrivals (4 splits x 1 active warpgroup), the warp meets,
// and each lane sums its experts' partials in split order before the warp
// router (sigmoid here, with the bias) writes the token's slots.
// CHECK-LABEL: func.func @fused_router
// CHECK-SAME: (%[[X:.*]]: memref<64x1024xbf16>, %[[WR:.*]]: memref<16x1024xbf16>, %[[B:.*]]: memref<16xf32>, %[[W:.*]]: memref<64x2xf32>, %[[I:.*]]: memref<64x2xi32>)
// CHECK: %[[COUNTER:.*]] = memref.alloc() : memref<1xi32>
// CHECK: %[[PARTIALS:.*]] = memref.alloc() : memref<4x64x16xf32>
// CHECK: %[[ARRIVALS:.*]] = memref.alloc() : memref<1xi32>
// CHECK: nvgpu.tma.create.descriptor {{.*}} box[%{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<16x64xbf16, #gpu.address_space<workgroup>>
// CHECK: gpu.memset %[[COUNTER]]
// CHECK: gpu.memset %[[ARRIVALS]]
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c8, {{.*}} threads({{.*}}) in ({{.*}} = %c384,
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 16, k = 16>
// CHECK: memref.store %{{.*}}, %[[PARTIALS]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<4x64x16xf32>
// CHECK: nvvm.memory.barrier <gpu>
// CHECK: nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// CHECK: memref.atomic_rmw addi %c1_i32, %[[ARRIVALS]][%{{.*}}]
// CHECK: scf.for %[[TOKEN:.*]] = %{{.*}} to %c64{{.*}} step %c64
// CHECK: arith.muli %{{.*}}, %c4{{(_[0-9]+)?}} : index
// CHECK: scf.while
// CHECK: %[[SEEN:.*]] = memref.atomic_rmw addi %c0_i32{{.*}}, %[[ARRIVALS]]
// CHECK: arith.cmpi slt, %[[SEEN]]
// CHECK: nvvm.nanosleep
// CHECK: nvvm.bar.warp.sync %c-1_i32
// CHECK: nvvm.memory.barrier <gpu>
// CHECK: %[[P0:.*]] = memref.load %[[PARTIALS]][%c0{{.*}}, %[[TOKEN]], %{{.*}}]
// CHECK: %[[P1:.*]] = memref.load %[[PARTIALS]][%c1{{.*}}, %[[TOKEN]], %{{.*}}]
// CHECK: %[[S1:.*]] = arith.addf %[[P0]], %[[P1]] : f32
// CHECK: %[[P2:.*]] = memref.load %[[PARTIALS]][%c2{{.*}}, %[[TOKEN]], %{{.*}}]
// CHECK: %[[S2:.*]] = arith.addf %[[S1]], %[[P2]] : f32
// CHECK: %[[P3:.*]] = memref.load %[[PARTIALS]][%c3{{.*}}, %[[TOKEN]], %{{.*}}]
// CHECK: arith.addf %[[S2]], %[[P3]] : f32
// CHECK: math.exp
// CHECK: memref.load %[[B]]
// CHECK: gpu.shuffle  xor
// CHECK: memref.store %{{.*}}, %[[W]][%[[TOKEN]], %{{.*}}] : memref<64x2xf32>
// CHECK: memref.store %{{.*}}, %[[I]][%[[TOKEN]], %{{.*}}] : memref<64x2xi32>
func.func @fused_router(%x: memref<64x1024xbf16>, %wr: memref<16x1024xbf16>, %b: memref<16xf32>, %w: memref<64x2xf32>, %i: memref<64x2xi32>) {
  moe.fused_router %x weight %wr bias %b routing <scoring = sigmoid, top_k = 2, renormalize = true> outs(%w, %i)
      : memref<64x1024xbf16>, memref<16x1024xbf16> bias memref<16xf32> outs memref<64x2xf32>, memref<64x2xi32>
  return
}
