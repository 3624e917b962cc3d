// Tests that a missing linker is a located error and writes no bundle.

// RUN: rm -f %t.bundle
// RUN: env MOE_LLD=%t.no-such-linker not moe-translate --moe-to-bundle %s -o %t.bundle 2>&1 | FileCheck %s
// RUN: not test -e %t.bundle

// CHECK: linker.mlir:[[@LINE+1]]:1: error: MOE_LLD='{{.*}}no-such-linker' is not an executable linker
func.func @copy(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
