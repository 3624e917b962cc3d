/*===- TestCudaHost.c - host code of the CUDA test bundle -----------------===*
 *
 * What the host code of MLIR's GPU lowering does, written by hand: a
 * constructor loads the embedded device code (cubin through mgpuModuleLoad,
 * PTX through mgpuModuleLoadJIT), a destructor unloads it, and each
 * `_mlir_ciface_<name>` entry point takes memref descriptors of CUDA device
 * pointers, allocates its result with mgpuMemAlloc on the stream of
 * mgpuStreamCreate and launches kernels of TestCudaKernels.cu. Built as a
 * shared object whose bytes the GPU tests (CudaGpuTest.cpp) put in a
 * "cuda-sm_90a" bundle; the mgpu* functions stay undefined here and resolve
 * to the runtime's when it loads the object.
 *
 *===----------------------------------------------------------------------===*/

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(MOERT_TEST_CUBIN) || !defined(MOERT_TEST_PTX)
#error "MOERT_TEST_CUBIN and MOERT_TEST_PTX must name the device code files"
#endif

void *mgpuModuleLoad(void *data, uint64_t size);
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void mgpuLaunchClusterKernel(void *function, intptr_t clusterX,
                             intptr_t clusterY, intptr_t clusterZ,
                             intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                             intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                             int32_t smem, void *stream, void **params,
                             void **extra, size_t paramsCount);
void *mgpuStreamCreate(void);
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate(void);
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *pointer, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream);
void mgpuSetDefaultDevice(int32_t device);
void *mgpuTensorMapEncodeTiledMemref(int64_t tensorRank, void *descriptor,
                                     int32_t dataType, int32_t interleave,
                                     int32_t swizzle, int32_t l2Promotion,
                                     int32_t oobFill, int64_t *boxDimensions);

/* The device code, embedded as MLIR embeds its gpu.binary. */
__asm__(".section .rodata\n"
        ".balign 64\n"
        "moert_test_cubin:\n"
        ".incbin \"" MOERT_TEST_CUBIN "\"\n"
        "moert_test_cubin_end:\n"
        "moert_test_ptx:\n"
        ".incbin \"" MOERT_TEST_PTX "\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char moert_test_cubin[], moert_test_cubin_end[], moert_test_ptx[];

static void *cubinModule, *ptxModule;

__attribute__((constructor)) static void loadModules(void) {
  cubinModule = mgpuModuleLoad((void *)moert_test_cubin,
                               (uint64_t)(moert_test_cubin_end -
                                          moert_test_cubin));
  ptxModule = mgpuModuleLoadJIT((void *)moert_test_ptx, 2);
}

__attribute__((destructor)) static void unloadModules(void) {
  mgpuModuleUnload(ptxModule);
  mgpuModuleUnload(cubinModule);
}

typedef struct Memref1 {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];
} Memref1;

typedef struct Memref2 {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} Memref2;

static void describe2(Memref2 *result, float *out, int64_t rows,
                      int64_t columns) {
  result->allocated = out;
  result->aligned = out;
  result->offset = 0;
  result->sizes[0] = rows;
  result->sizes[1] = columns;
  result->strides[0] = columns;
  result->strides[1] = 1;
}

enum Launch { PLAIN, CLUSTER, TOO_LARGE };

/* result = x + y through every kind of mgpu call: a copy of x on the device,
 * memsets of the result, an event, then the launch. */
static void add(Memref2 *result, Memref2 *x, Memref2 *y, void *module,
                enum Launch launch) {
  int64_t rows = x->sizes[0], columns = x->sizes[1], n = rows * columns;
  mgpuSetDefaultDevice(0);
  void *stream = mgpuStreamCreate();
  float *out = (float *)mgpuMemAlloc((uint64_t)n * 4, stream, false);
  float *copy = (float *)mgpuMemAlloc((uint64_t)n * 4, stream, false);
  mgpuMemcpy(copy, x->aligned + x->offset, (size_t)n * 4, stream);
  mgpuMemset16(out, 0x7fff, (size_t)n * 2, stream);
  mgpuMemset32(out, 0, (size_t)n, stream);
  void *event = mgpuEventCreate();
  mgpuEventRecord(event, stream);
  mgpuStreamWaitEvent(stream, event);
  void *function = mgpuModuleGetFunction(module, "moert_test_add");
  const float *yData = y->aligned + y->offset;
  void *params[] = {&copy, &yData, &out, &n};
  intptr_t grid = (intptr_t)((n + 255) / 256);
  if (launch == CLUSTER)
    mgpuLaunchClusterKernel(function, 2, 1, 1, grid, 1, 1, 256, 1, 1, 0,
                            stream, params, NULL, 4);
  else
    mgpuLaunchKernel(function, grid, 1, 1, launch == TOO_LARGE ? 2048 : 256,
                     1, 1, 0, stream, params, NULL, 4);
  mgpuEventSynchronize(event);
  mgpuEventDestroy(event);
  mgpuMemFree(copy, stream);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  describe2(result, out, rows, columns);
}

__attribute__((visibility("default"))) void
_mlir_ciface_add(Memref2 *result, Memref2 *x, Memref2 *y) {
  add(result, x, y, cubinModule, PLAIN);
}

__attribute__((visibility("default"))) void
_mlir_ciface_add_jit(Memref2 *result, Memref2 *x, Memref2 *y) {
  add(result, x, y, ptxModule, PLAIN);
}

__attribute__((visibility("default"))) void
_mlir_ciface_add_cluster(Memref2 *result, Memref2 *x, Memref2 *y) {
  add(result, x, y, cubinModule, CLUSTER);
}

__attribute__((visibility("default"))) void
_mlir_ciface_bad_launch(Memref2 *result, Memref2 *x, Memref2 *y) {
  add(result, x, y, cubinModule, TOO_LARGE);
}

/* result = the 16 words of a tiled tensor map of x (boxes of 8 x 32), as
 * nvgpu.tma.create.descriptor makes them. */
__attribute__((visibility("default"))) void
_mlir_ciface_tensor_map(Memref1 *result, Memref2 *x) {
  void *stream = mgpuStreamCreate();
  int64_t box[2] = {8, 32};
  void *map = mgpuTensorMapEncodeTiledMemref(2, x, 7 /*FLOAT32*/, 0, 0, 0, 0,
                                             box);
  long long *out = (long long *)mgpuMemAlloc(16 * 8, stream, false);
  void *function = mgpuModuleGetFunction(cubinModule, "moert_test_copy_words");
  int words = 16;
  void *params[] = {&map, &out, &words};
  mgpuLaunchKernel(function, 1, 1, 1, 32, 1, 1, 0, stream, params, NULL, 3);
  mgpuStreamSynchronize(stream);
  result->allocated = out;
  result->aligned = out;
  result->offset = 0;
  result->sizes[0] = 16;
  result->strides[0] = 1;
}

/* An illegal address that only the runtime's final synchronization sees. */
__attribute__((visibility("default"))) void _mlir_ciface_fault(Memref2 *x) {
  void *stream = mgpuStreamCreate();
  void *function = mgpuModuleGetFunction(cubinModule, "moert_test_fault");
  float *data = x->aligned + x->offset;
  void *params[] = {&data};
  mgpuLaunchKernel(function, 1, 1, 1, 32, 1, 1, 0, stream, params, NULL, 1);
}
