// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file | FileCheck %s

// Tests the tensor-core kernel of moe.grouped_matmul: host-side TMA
// descriptors (rows, weights flattened to [E·N, K]), one gpu.launch with a
// grid of (N / columns per tile, ceil(R / 128) + E) blocks of 256 threads and
// four 48 KiB stages (+1 KiB for alignment), the expert search over the
// offsets, the mbarrier/TMA pipeline, wgmma m64n256k16 four times per K-slice,
// and the gated epilogue (SiLU(gate) * up, narrowed, masked by the expert's
// end row).

// CHECK-LABEL: func.func @gated
// CHECK-DAG: memref.collapse_shape %arg2 {{\[\[}}0, 1], [2]] : memref<8x256x128xbf16> into memref<2048x128xbf16>
// CHECK-DAG: memref.collapse_shape %arg3 {{\[\[}}0, 1], [2]] : memref<8x256x128xbf16> into memref<2048x128xbf16>
// CHECK: nvgpu.tma.create.descriptor %{{.*}} box[%{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<128x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = l2promo_256b, oob = zero, interleave = none>
// CHECK: %[[SMEM:.*]] = arith.constant 197632 : i32
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c2, %{{.*}} = %c10, %{{.*}} = %c1) threads({{.*}}) in (%{{.*}} = %c256, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) dynamic_shared_memory_size %[[SMEM]]
// CHECK:   scf.for %{{.*}} = %{{.*}} to %c8{{.*}} step %{{.*}} iter_args
// CHECK:     arith.ceildivui
// CHECK:   scf.if
// CHECK:     gpu.dynamic_shared_memory
// CHECK:     nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 4>
// CHECK:     nvgpu.mbarrier.init
// CHECK:     nvgpu.tma.prefetch.descriptor
// CHECK:     gpu.barrier
// CHECK:     nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c49152{{.*}}
// CHECK:     nvgpu.tma.async.load
// CHECK:     scf.for %{{.*}} = %{{.*}} to %c2{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (!llvm.struct<(f32,
// CHECK:       nvgpu.mbarrier.try_wait.parity
// CHECK:       nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 256, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK:       nvvm.wgmma.commit.group.sync.aligned
// CHECK:       nvvm.wgmma.wait.group.sync.aligned 0
// CHECK:       gpu.barrier
// CHECK:     llvm.extractvalue %{{.*}}[0]
// CHECK:     llvm.extractvalue %{{.*}}[64]
// CHECK:     math.exp
// CHECK:     arith.truncf %{{.*}} : f32 to bf16
// CHECK:     memref.store %{{.*}}, %arg4[
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
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c2, %{{.*}} = %c4, %{{.*}} = %c1)
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 256, k = 16>, D[<f32>, <one>], A[<f16>
// CHECK-NOT: math.exp
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @plain(%rows: memref<100x64xf16>, %offsets: memref<4xi32>, %down: memref<3x512x64xf16>, %out: memref<100x512xf16>) {
  moe.grouped_matmul %rows, %offsets weight %down outs(%out)
      : memref<100x64xf16>, memref<4xi32>, memref<3x512x64xf16> outs memref<100x512xf16>
  return
}

// -----

// N = 384 is not a multiple of 256: tiles of 128 columns, wgmma n128.
// CHECK-LABEL: func.func @narrow
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c3,
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>
func.func @narrow(%rows: memref<128x64xbf16>, %offsets: memref<3xi64>, %down: memref<2x384x64xbf16>, %out: memref<128x384xbf16>) {
  moe.grouped_matmul %rows, %offsets weight %down outs(%out)
      : memref<128x64xbf16>, memref<3xi64>, memref<2x384x64xbf16> outs memref<128x384xbf16>
  return
}
