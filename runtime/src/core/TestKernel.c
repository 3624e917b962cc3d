/*===- TestKernel.c - a real CPU kernel for the session tests -------------===*
 *
 * `_mlir_ciface_mm` with the calling convention of compiled bundles (memref
 * descriptors by pointer, result first, result memory from malloc), so the
 * runtime tests run real code without the compiler. Built as a shared object
 * whose bytes SessionTest.cpp puts in a bundle's KERNELS section.
 *
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdlib.h>

typedef struct Memref2 {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} Memref2;

/* result[2x4] = a[2x3] * b[3x4] */
__attribute__((visibility("default"))) void
_mlir_ciface_mm(Memref2 *result, Memref2 *a, Memref2 *b) {
  float *out = (float *)malloc(2 * 4 * sizeof(float));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      float sum = 0.0f;
      for (int64_t k = 0; k < 3; ++k)
        sum += a->aligned[a->offset + i * a->strides[0] + k * a->strides[1]] *
               b->aligned[b->offset + k * b->strides[0] + j * b->strides[1]];
      out[i * 4 + j] = sum;
    }
  result->allocated = out;
  result->aligned = out;
  result->offset = 0;
  result->sizes[0] = 2;
  result->sizes[1] = 4;
  result->strides[0] = 4;
  result->strides[1] = 1;
}
