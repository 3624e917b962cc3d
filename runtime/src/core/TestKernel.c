/*===- TestKernel.c - matmul kernels for the runtime's unit tests ---------===*
 *
 * Stand-ins for what moe-translate compiles: _mlir_ciface_mm returns the dense
 * product result[2x4] = a[2x3] * b[3x4]; _mlir_ciface_mmt returns it with
 * column-major strides (a strided result the executor must copy). Built as
 * shared objects whose bytes the tests put in a bundle's KERNELS section,
 * without sanitizers, like the kernels moe-translate emits.
 *
 * Built twice: the second copy (MOERT_TEST_KERNEL_SCALE=2) returns twice the
 * product, so a test can tell which of two loaded images ran.
 *
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdlib.h>

#ifndef MOERT_TEST_KERNEL_SCALE
#define MOERT_TEST_KERNEL_SCALE 1
#endif

typedef struct Memref2 {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} Memref2;

static float *product(const Memref2 *a, const Memref2 *b, int64_t rowStride,
                      int64_t columnStride) {
  float *out = (float *)malloc(2 * 4 * sizeof(float));
  if (!out)
    return NULL;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      float sum = 0.0f;
      for (int64_t k = 0; k < 3; ++k)
        sum += a->aligned[a->offset + i * a->strides[0] + k * a->strides[1]] *
               b->aligned[b->offset + k * b->strides[0] + j * b->strides[1]];
      out[i * rowStride + j * columnStride] = MOERT_TEST_KERNEL_SCALE * sum;
    }
  return out;
}

static void describe(Memref2 *result, float *out, int64_t rowStride,
                     int64_t columnStride) {
  result->allocated = out;
  result->aligned = out;
  result->offset = 0;
  result->sizes[0] = 2;
  result->sizes[1] = 4;
  result->strides[0] = rowStride;
  result->strides[1] = columnStride;
}

__attribute__((visibility("default"))) void
_mlir_ciface_mm(Memref2 *result, Memref2 *a, Memref2 *b) {
  describe(result, product(a, b, 4, 1), 4, 1);
}

__attribute__((visibility("default"))) void
_mlir_ciface_mmt(Memref2 *result, Memref2 *a, Memref2 *b) {
  describe(result, product(a, b, 1, 2), 1, 2);
}
