/*===- TestCommKernel.c - a kernel that calls the collective ABI ---------===*
 *
 * Entry points shaped like moe-translate's (memref descriptors by pointer,
 * results first, result memory from malloc), calling moert_comm_* the way
 * lowered moeflow collectives do; moert_comm_* stay undefined here and
 * resolve to the runtime when it loads the object.
 *   _mlir_ciface_sum: result[2, 3] = all_reduce(sum) of x[2, 3] over axis 1.
 *   _mlir_ciface_bad: the same, except that the rank at coordinate 1 of
 *                     axis 1 issues an all_gather instead (a mismatch).
 *   _mlir_ciface_add: result[2, 3] = x[2, 3] + y[2, 3] + the all_reduce(max)
 *                     over the whole grid of 0 (a collective that changes
 *                     nothing): the per-rank program of a sharded addition,
 *                     for moe-run under mpirun (WriteTestBundle.cpp).
 *===----------------------------------------------------------------------===*/

#include "CommAbi.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} Memref2;

static void allocateResult(Memref2 *out) {
  float *data = (float *)calloc(6, sizeof(float));
  out->allocated = data;
  out->aligned = data;
  out->offset = 0;
  out->sizes[0] = 2;
  out->sizes[1] = 3;
  out->strides[0] = 3;
  out->strides[1] = 1;
}

void _mlir_ciface_sum(Memref2 *out, Memref2 *x) {
  allocateResult(out);
  moert_comm_all_reduce(1 << 1, x->aligned + x->offset, out->aligned, 6,
                        MOERT_DTYPE_F32, MOERT_COMM_SUM);
}

void _mlir_ciface_bad(Memref2 *out, Memref2 *x) {
  allocateResult(out);
  if (moert_comm_grid_index(1) == 1)
    moert_comm_all_gather(1 << 1, x->aligned + x->offset, out->aligned, 1, 4);
  else
    moert_comm_all_reduce(1 << 1, x->aligned + x->offset, out->aligned, 6,
                          MOERT_DTYPE_F32, MOERT_COMM_SUM);
}

void _mlir_ciface_add(Memref2 *out, Memref2 *x, Memref2 *y) {
  float zero[1] = {0.0f}, reduced[1] = {1.0f};
  const float *a = x->aligned + x->offset, *b = y->aligned + y->offset;
  allocateResult(out);
  moert_comm_all_reduce(0x7, zero, reduced, 1, MOERT_DTYPE_F32, MOERT_COMM_MAX);
  for (int i = 0; i < 6; ++i)
    out->aligned[i] = a[i] + b[i] + reduced[0];
}
