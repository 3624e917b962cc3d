// RUN: moe-opt %s -split-input-file -verify-diagnostics -moe-map-loops-to-gpu
// RUN: not moe-opt %s -moe-map-loops-to-gpu=block-size=2048 2>&1 | FileCheck %s --check-prefix=BLOCK
// BLOCK: moe-map-loops-to-gpu: block-size must be in [1, 1024], got 2048
// RUN: not moe-opt %s -moe-map-loops-to-gpu=multiprocessors=-1 2>&1 | FileCheck %s --check-prefix=SMS
// SMS: moe-map-loops-to-gpu: multiprocessors must not be negative, got -1

// Tests that a parallel loop with a reduction is refused.
func.func @reduction(%a: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @+1 {{a parallel loop with reductions has no GPU mapping yet}}
  %sum = scf.parallel (%i) = (%c0) to (%c4) step (%c1) init (%zero) -> f32 {
    %v = memref.load %a[%i] : memref<4xf32>
    scf.reduce(%v : f32) {
    ^bb0(%x: f32, %y: f32):
      %s = arith.addf %x, %y : f32
      scf.reduce.return %s : f32
    }
  }
  return %sum : f32
}

// -----

// Tests that host code never reads device memory.
func.func @host_reads(%a: memref<4xindex>) -> index {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{the host would need device data: this op reads device memory and its result is used outside a kernel}}
  %v = memref.load %a[%c0] : memref<4xindex>
  return %v : index
}

// -----

// Tests that a kernel's temporary buffer must have a static size.
func.func @dynamic_temporary(%a: memref<4xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %f = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    // expected-error @+1 {{a temporary buffer of dynamic size inside a GPU kernel has no lowering yet}}
    %t = memref.alloc(%n) : memref<?xf32>
    memref.store %f, %t[%c0] : memref<?xf32>
    scf.reduce
  }
  return
}

// -----

// Tests that allocations stay at the top level of host code.
func.func @nested_host_alloc(%flag: i1) {
  scf.if %flag {
    // expected-error @+1 {{an allocation inside host control flow has no GPU mapping}}
    %t = memref.alloc() : memref<4xf32>
  }
  return
}

// -----

// Tests that functions must have a single block.
// expected-error @+1 {{moe-map-loops-to-gpu expects functions with one block (run it before lowering scf to cf)}}
func.func @blocks() {
  cf.br ^next
^next:
  return
}

// -----

// Tests that a returned view of dynamic shape is refused.
func.func @dynamic_view(%a: memref<?xf32>) -> memref<?xf32> {
  // expected-error @+1 {{returning a view or an argument of dynamic shape or non-identity layout has no GPU mapping yet}}
  return %a : memref<?xf32>
}

// -----

// Tests that an allocation sized by device data is refused.
func.func @data_sized(%a: memref<4xindex>) {
  %c0 = arith.constant 0 : index
  %n = memref.load %a[%c0] : memref<4xindex>
  // expected-error @+1 {{the size of this allocation depends on device data}}
  %t = memref.alloc(%n) : memref<?xf32>
  return
}

// -----

// Tests that host code already lowered past this pass (outlined launches,
// stream tokens) is refused rather than wrapped in kernels.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @kernel() kernel { gpu.return }
  }
  func.func @lowered() {
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{'gpu.launch_func' in host code: moe-map-loops-to-gpu maps the loops of functions that have no outlined kernels or GPU streams yet}}
    gpu.launch_func @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}
