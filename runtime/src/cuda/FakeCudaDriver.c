/*===- FakeCudaDriver.c - a CUDA driver on the host, for tests ------------===*
 *
 * A stand-in for libcuda.so.1 that the runtime loads through
 * MOERT_CUDA_DRIVER_LIBRARY, so that the whole CUDA backend (sessions, the
 * mgpu* ABI, device memory, copies, errors) runs in CI, where there is no GPU.
 * One device whose memory is host memory (device pointers are host pointers);
 * launches of the test kernels of TestCudaKernels.cu run on the host, by name;
 * everything is synchronous. Environment: MOERT_FAKE_CUDA_CC (compute
 * capability as major*10+minor, default 90), MOERT_FAKE_CUDA_DEVICES (device
 * count, default 1: 0 makes cuInit fail with CUDA_ERROR_NO_DEVICE),
 * MOERT_FAKE_CUDA_NO_POOLS=1 (cuMemPoolCreate fails with
 * CUDA_ERROR_NOT_SUPPORTED).
 *
 * moertFakeCudaLiveAllocations() tells tests how many allocations are live;
 * moertFakeCudaSetEventsPending(1) makes cuEventQuery and cuStreamQuery answer
 * CUDA_ERROR_NOT_READY (work that never completes, e.g. a peer that is gone).
 * Memory pools (cuMemPoolCreate, cuMemAllocFromPoolAsync) are counted too:
 * moertFakeCudaLivePools() (created, not destroyed),
 * moertFakeCudaPoolAllocations() (allocations ever made from a pool),
 * moertFakeCudaPoolsDestroyedInUse() (pools destroyed while allocations from
 * them were live) and moertFakeCudaPoolReleaseThreshold() (the release
 * threshold last set on a pool).
 *
 *===----------------------------------------------------------------------===*/

#include <cuda.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE __attribute__((visibility("default")))

static atomic_long liveAllocations;
/* Set by the fault kernel: every later synchronization fails, as a real
 * illegal address leaves the context broken. */
static atomic_int broken;

static int envInt(const char *name, int fallback) {
  const char *text = getenv(name);
  return text && *text ? atoi(text) : fallback;
}

FAKE long moertFakeCudaLiveAllocations(void) { return liveAllocations; }

static atomic_int eventsPending;
FAKE void moertFakeCudaSetEventsPending(int pending) { eventsPending = pending; }

/*--- errors, devices, contexts -------------------------------------------*/

FAKE CUresult cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
  case CUDA_SUCCESS: *name = "CUDA_SUCCESS"; return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_VALUE: *name = "CUDA_ERROR_INVALID_VALUE"; return CUDA_SUCCESS;
  case CUDA_ERROR_OUT_OF_MEMORY: *name = "CUDA_ERROR_OUT_OF_MEMORY"; return CUDA_SUCCESS;
  case CUDA_ERROR_NO_DEVICE: *name = "CUDA_ERROR_NO_DEVICE"; return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_FOUND: *name = "CUDA_ERROR_NOT_FOUND"; return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_IMAGE: *name = "CUDA_ERROR_INVALID_IMAGE"; return CUDA_SUCCESS;
  case CUDA_ERROR_ILLEGAL_ADDRESS: *name = "CUDA_ERROR_ILLEGAL_ADDRESS"; return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_CONTEXT: *name = "CUDA_ERROR_INVALID_CONTEXT"; return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_SUPPORTED: *name = "CUDA_ERROR_NOT_SUPPORTED"; return CUDA_SUCCESS;
  default: *name = NULL; return CUDA_ERROR_INVALID_VALUE;
  }
}

FAKE CUresult cuGetErrorString(CUresult error, const char **text) {
  switch (error) {
  case CUDA_SUCCESS: *text = "no error"; return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_VALUE: *text = "invalid argument"; return CUDA_SUCCESS;
  case CUDA_ERROR_OUT_OF_MEMORY: *text = "out of memory"; return CUDA_SUCCESS;
  case CUDA_ERROR_NO_DEVICE: *text = "no CUDA-capable device is detected"; return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_FOUND: *text = "named symbol not found"; return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_IMAGE: *text = "device kernel image is invalid"; return CUDA_SUCCESS;
  case CUDA_ERROR_ILLEGAL_ADDRESS: *text = "an illegal memory access was encountered"; return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_CONTEXT: *text = "invalid device context"; return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_SUPPORTED: *text = "operation not supported"; return CUDA_SUCCESS;
  default: *text = NULL; return CUDA_ERROR_INVALID_VALUE;
  }
}

FAKE CUresult cuInit(unsigned flags) {
  (void)flags;
  return envInt("MOERT_FAKE_CUDA_DEVICES", 1) > 0 ? CUDA_SUCCESS
                                                  : CUDA_ERROR_NO_DEVICE;
}

FAKE CUresult cuDeviceGetCount(int *count) {
  *count = envInt("MOERT_FAKE_CUDA_DEVICES", 1);
  return CUDA_SUCCESS;
}

FAKE CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (ordinal < 0 || ordinal >= envInt("MOERT_FAKE_CUDA_DEVICES", 1))
    return CUDA_ERROR_INVALID_VALUE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

FAKE CUresult cuDeviceGetName(char *name, int length, CUdevice device) {
  (void)device;
  snprintf(name, (size_t)length, "moert fake CUDA device");
  return CUDA_SUCCESS;
}

FAKE CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attribute,
                                   CUdevice device) {
  (void)device;
  int cc = envInt("MOERT_FAKE_CUDA_CC", 90);
  switch (attribute) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = cc / 10; break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = cc % 10; break;
  case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: *value = 1; break;
  default: *value = 0; break;
  }
  return CUDA_SUCCESS;
}

static int primaryContext;

FAKE CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
  (void)device;
  *context = (CUcontext)&primaryContext;
  return CUDA_SUCCESS;
}

FAKE CUresult cuDevicePrimaryCtxRelease(CUdevice device) {
  (void)device;
  return CUDA_SUCCESS;
}

static _Thread_local int contextDepth;

FAKE CUresult cuCtxPushCurrent(CUcontext context) {
  if (context != (CUcontext)&primaryContext)
    return CUDA_ERROR_INVALID_VALUE;
  ++contextDepth;
  return CUDA_SUCCESS;
}

FAKE CUresult cuCtxPopCurrent(CUcontext *context) {
  if (contextDepth == 0)
    return CUDA_ERROR_INVALID_VALUE;
  --contextDepth;
  if (context)
    *context = (CUcontext)&primaryContext;
  return CUDA_SUCCESS;
}

/* Every call that needs a current context checks for one. */
#define NEED_CONTEXT()                                                         \
  do {                                                                         \
    if (contextDepth == 0)                                                     \
      return CUDA_ERROR_INVALID_CONTEXT;                                       \
  } while (0)

/*--- memory ----------------------------------------------------------------*/

FAKE CUresult cuMemGetInfo(size_t *freeBytes, size_t *totalBytes) {
  NEED_CONTEXT();
  *freeBytes = (size_t)8 << 30;
  *totalBytes = (size_t)16 << 30;
  return CUDA_SUCCESS;
}

/* A memory pool: its allocations come from the heap like the others, and it
 * counts those that are live, so that destroying it while some are can be
 * told apart (a real driver then keeps the pool until they are freed: so
 * does this one). */
struct FakePool {
  long live;
  int destroyed;
  cuuint64_t releaseThreshold;
};
static pthread_mutex_t poolMutex = PTHREAD_MUTEX_INITIALIZER;
static atomic_long livePools, poolAllocations, poolsDestroyedInUse;
static _Atomic unsigned long long poolReleaseThreshold;

FAKE long moertFakeCudaLivePools(void) { return livePools; }
FAKE long moertFakeCudaPoolAllocations(void) { return poolAllocations; }
FAKE long moertFakeCudaPoolsDestroyedInUse(void) { return poolsDestroyedInUse; }
FAKE unsigned long long moertFakeCudaPoolReleaseThreshold(void) {
  return poolReleaseThreshold;
}

/* Every allocation starts HEADER bytes into its block (keeping the 256-byte
 * alignment), whose first bytes name its pool (NULL: none). */
#define HEADER 256

static CUresult allocate(CUdeviceptr *pointer, size_t bytes,
                         struct FakePool *pool) {
  NEED_CONTEXT();
  if (bytes == 0)
    return CUDA_ERROR_INVALID_VALUE;
  char *block = aligned_alloc(256, HEADER + (bytes + 255) / 256 * 256);
  if (!block)
    return CUDA_ERROR_OUT_OF_MEMORY;
  memcpy(block, &pool, sizeof(pool));
  if (pool) {
    pthread_mutex_lock(&poolMutex);
    ++pool->live;
    pthread_mutex_unlock(&poolMutex);
    ++poolAllocations;
  }
  ++liveAllocations;
  *pointer = (CUdeviceptr)(block + HEADER);
  return CUDA_SUCCESS;
}

FAKE CUresult cuMemAlloc(CUdeviceptr *pointer, size_t bytes) {
  return allocate(pointer, bytes, NULL);
}

FAKE CUresult cuMemFree(CUdeviceptr pointer) {
  NEED_CONTEXT();
  if (!pointer)
    return CUDA_SUCCESS;
  char *block = (char *)pointer - HEADER;
  struct FakePool *pool;
  memcpy(&pool, block, sizeof(pool));
  if (pool) {
    pthread_mutex_lock(&poolMutex);
    int last = --pool->live == 0 && pool->destroyed;
    pthread_mutex_unlock(&poolMutex);
    if (last)
      free(pool);
  }
  --liveAllocations;
  free(block);
  return CUDA_SUCCESS;
}

FAKE CUresult cuMemAllocAsync(CUdeviceptr *pointer, size_t bytes,
                              CUstream stream) {
  (void)stream;
  return cuMemAlloc(pointer, bytes);
}

FAKE CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props) {
  if (!pool || !props || props->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
      props->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
      props->location.id < 0 ||
      props->location.id >= envInt("MOERT_FAKE_CUDA_DEVICES", 1))
    return CUDA_ERROR_INVALID_VALUE;
  if (envInt("MOERT_FAKE_CUDA_NO_POOLS", 0))
    return CUDA_ERROR_NOT_SUPPORTED;
  struct FakePool *created = calloc(1, sizeof(struct FakePool));
  if (!created)
    return CUDA_ERROR_OUT_OF_MEMORY;
  ++livePools;
  *pool = (CUmemoryPool)created;
  return CUDA_SUCCESS;
}

FAKE CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  struct FakePool *destroyed = (struct FakePool *)pool;
  if (!destroyed)
    return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&poolMutex);
  int inUse = destroyed->live != 0;
  destroyed->destroyed = 1;
  pthread_mutex_unlock(&poolMutex);
  --livePools;
  if (inUse)
    ++poolsDestroyedInUse;
  else
    free(destroyed);
  return CUDA_SUCCESS;
}

FAKE CUresult cuMemPoolSetAttribute(CUmemoryPool pool,
                                    CUmemPool_attribute attribute,
                                    void *value) {
  if (!pool || !value)
    return CUDA_ERROR_INVALID_VALUE;
  if (attribute == CU_MEMPOOL_ATTR_RELEASE_THRESHOLD) {
    ((struct FakePool *)pool)->releaseThreshold = *(const cuuint64_t *)value;
    poolReleaseThreshold = *(const cuuint64_t *)value;
  }
  return CUDA_SUCCESS;
}

FAKE CUresult cuMemPoolGetAttribute(CUmemoryPool pool,
                                    CUmemPool_attribute attribute,
                                    void *value) {
  if (!pool || !value)
    return CUDA_ERROR_INVALID_VALUE;
  /* Reserved and used memory are not counted (0): nothing is idle. */
  *(cuuint64_t *)value = attribute == CU_MEMPOOL_ATTR_RELEASE_THRESHOLD
                             ? ((struct FakePool *)pool)->releaseThreshold
                             : 0;
  return CUDA_SUCCESS;
}

FAKE CUresult cuMemAllocFromPoolAsync(CUdeviceptr *pointer, size_t bytes,
                                      CUmemoryPool pool, CUstream stream) {
  (void)stream;
  struct FakePool *from = (struct FakePool *)pool;
  if (!from || from->destroyed)
    return CUDA_ERROR_INVALID_VALUE;
  return allocate(pointer, bytes, from);
}

FAKE CUresult cuMemFreeAsync(CUdeviceptr pointer, CUstream stream) {
  (void)stream;
  return cuMemFree(pointer);
}

FAKE CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                            CUstream stream) {
  (void)stream;
  NEED_CONTEXT();
  memcpy((void *)dst, (const void *)src, bytes);
  return CUDA_SUCCESS;
}

FAKE CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t bytes,
                                CUstream stream) {
  return cuMemcpyAsync(dst, (CUdeviceptr)src, bytes, stream);
}

FAKE CUresult cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t bytes,
                                CUstream stream) {
  if (broken)
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  return cuMemcpyAsync((CUdeviceptr)dst, src, bytes, stream);
}

FAKE CUresult cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                                CUstream stream) {
  return cuMemcpyAsync(dst, src, bytes, stream);
}

FAKE CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count,
                               CUstream stream) {
  (void)stream;
  NEED_CONTEXT();
  for (size_t i = 0; i < count; ++i)
    ((unsigned *)dst)[i] = value;
  return CUDA_SUCCESS;
}

FAKE CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short value,
                               size_t count, CUstream stream) {
  (void)stream;
  NEED_CONTEXT();
  for (size_t i = 0; i < count; ++i)
    ((unsigned short *)dst)[i] = value;
  return CUDA_SUCCESS;
}

/*--- modules and launches --------------------------------------------------*/

static int module;

FAKE CUresult cuModuleLoadData(CUmodule *out, const void *image) {
  NEED_CONTEXT();
  if (memcmp(image, "\x7f" "ELF", 4) != 0)
    return CUDA_ERROR_INVALID_IMAGE;
  *out = (CUmodule)&module;
  return CUDA_SUCCESS;
}

FAKE CUresult cuModuleLoadDataEx(CUmodule *out, const void *image,
                                 unsigned count, CUjit_option *options,
                                 void **values) {
  (void)count, (void)options, (void)values;
  NEED_CONTEXT();
  if (!strstr((const char *)image, ".version"))
    return CUDA_ERROR_INVALID_IMAGE;
  *out = (CUmodule)&module;
  return CUDA_SUCCESS;
}

FAKE CUresult cuModuleUnload(CUmodule unloaded) {
  return unloaded == (CUmodule)&module ? CUDA_SUCCESS
                                       : CUDA_ERROR_INVALID_VALUE;
}

enum Kernel { ADD, COPY_WORDS, FAULT, KERNEL_COUNT };
static const char *const kernelNames[KERNEL_COUNT] = {
    "moert_test_add", "moert_test_copy_words", "moert_test_fault"};
static int kernels[KERNEL_COUNT];

FAKE CUresult cuModuleGetFunction(CUfunction *function, CUmodule from,
                                  const char *name) {
  if (from != (CUmodule)&module)
    return CUDA_ERROR_INVALID_VALUE;
  for (int k = 0; k < KERNEL_COUNT; ++k)
    if (strcmp(name, kernelNames[k]) == 0) {
      *function = (CUfunction)&kernels[k];
      return CUDA_SUCCESS;
    }
  return CUDA_ERROR_NOT_FOUND;
}

FAKE CUresult cuFuncSetAttribute(CUfunction function,
                                 CUfunction_attribute attribute, int value) {
  (void)function, (void)attribute, (void)value;
  return CUDA_SUCCESS;
}

/* Runs test kernel `function` on the host. */
static CUresult launch(CUfunction function, unsigned blocks, unsigned threads,
                       void **params) {
  if (contextDepth == 0)
    return CUDA_ERROR_INVALID_CONTEXT;
  if (threads == 0 || threads > 1024 || blocks == 0)
    return CUDA_ERROR_INVALID_VALUE;
  long long total = (long long)blocks * threads;
  if (function == (CUfunction)&kernels[ADD]) {
    const float *x = *(const float **)params[0], *y = *(const float **)params[1];
    float *out = *(float **)params[2];
    long long n = *(long long *)params[3];
    for (long long i = 0; i < n && i < total; ++i)
      out[i] = x[i] + y[i];
  } else if (function == (CUfunction)&kernels[COPY_WORDS]) {
    const long long *in = *(const long long **)params[0];
    long long *out = *(long long **)params[1];
    int words = *(int *)params[2];
    for (int i = 0; i < words && i < (int)threads; ++i)
      out[i] = in[i];
  } else if (function == (CUfunction)&kernels[FAULT]) {
    broken = 1;
  } else {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

FAKE CUresult cuLaunchKernel(CUfunction function, unsigned gridX,
                             unsigned gridY, unsigned gridZ, unsigned blockX,
                             unsigned blockY, unsigned blockZ, unsigned smem,
                             CUstream stream, void **params, void **extra) {
  (void)smem, (void)stream, (void)extra;
  return launch(function, gridX * gridY * gridZ, blockX * blockY * blockZ,
                params);
}

FAKE CUresult cuLaunchKernelEx(const CUlaunchConfig *config,
                               CUfunction function, void **params,
                               void **extra) {
  (void)extra;
  for (unsigned a = 0; a < config->numAttrs; ++a)
    if (config->attrs[a].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION &&
        config->gridDimX % config->attrs[a].value.clusterDim.x != 0)
      return CUDA_ERROR_INVALID_VALUE;
  return launch(function,
                config->gridDimX * config->gridDimY * config->gridDimZ,
                config->blockDimX * config->blockDimY * config->blockDimZ,
                params);
}

/*--- streams and events ----------------------------------------------------*/

FAKE CUresult cuStreamCreate(CUstream *stream, unsigned flags) {
  (void)flags;
  NEED_CONTEXT();
  *stream = (CUstream)malloc(16);
  return *stream ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

FAKE CUresult cuStreamCreateWithPriority(CUstream *stream, unsigned flags,
                                         int priority) {
  (void)priority;
  return cuStreamCreate(stream, flags);
}

FAKE CUresult cuCtxGetStreamPriorityRange(int *least, int *greatest) {
  NEED_CONTEXT();
  if (least)
    *least = 0;
  if (greatest)
    *greatest = -5;
  return CUDA_SUCCESS;
}

FAKE CUresult cuStreamQuery(CUstream stream) {
  (void)stream;
  if (broken)
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  return eventsPending ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
}

FAKE CUresult cuStreamDestroy(CUstream stream) {
  free(stream);
  return CUDA_SUCCESS;
}

FAKE CUresult cuStreamSynchronize(CUstream stream) {
  (void)stream;
  return broken ? CUDA_ERROR_ILLEGAL_ADDRESS : CUDA_SUCCESS;
}

FAKE CUresult cuStreamWaitEvent(CUstream stream, CUevent event,
                                unsigned flags) {
  (void)stream, (void)event, (void)flags;
  return CUDA_SUCCESS;
}

FAKE CUresult cuStreamIsCapturing(CUstream stream,
                                  CUstreamCaptureStatus *status) {
  (void)stream;
  *status = CU_STREAM_CAPTURE_STATUS_NONE;
  return CUDA_SUCCESS;
}

FAKE CUresult cuEventCreate(CUevent *event, unsigned flags) {
  (void)flags;
  *event = (CUevent)malloc(16);
  return *event ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

FAKE CUresult cuEventDestroy(CUevent event) {
  free(event);
  return CUDA_SUCCESS;
}

FAKE CUresult cuEventRecord(CUevent event, CUstream stream) {
  (void)event, (void)stream;
  return CUDA_SUCCESS;
}

FAKE CUresult cuEventQuery(CUevent event) {
  (void)event;
  if (broken)
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  return eventsPending ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
}

FAKE CUresult cuEventSynchronize(CUevent event) {
  (void)event;
  return broken ? CUDA_ERROR_ILLEGAL_ADDRESS : CUDA_SUCCESS;
}

FAKE CUresult cuEventElapsedTime(float *milliseconds, CUevent start,
                                 CUevent end) {
  (void)start, (void)end;
  *milliseconds = 0.001f;
  return CUDA_SUCCESS;
}

/*--- tensor maps -------------------------------------------------------------*/

/* Not the real encoding: the arguments, laid out in the 128 bytes. */
FAKE CUresult cuTensorMapEncodeTiled(
    CUtensorMap *map, CUtensorMapDataType dataType, cuuint32_t rank,
    void *address, const cuuint64_t *globalDim,
    const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
    const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
    CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion,
    CUtensorMapFloatOOBfill oobFill) {
  (void)elementStrides, (void)interleave, (void)swizzle, (void)l2Promotion,
      (void)oobFill;
  if (rank < 1 || rank > 5)
    return CUDA_ERROR_INVALID_VALUE;
  uint64_t words[16] = {0};
  words[0] = (uint64_t)(uintptr_t)address;
  words[1] = (uint64_t)dataType | (uint64_t)rank << 32;
  for (cuuint32_t i = 0; i < rank; ++i) {
    words[2 + i] = globalDim[i];
    words[7 + i] = boxDim[i];
    if (i + 1 < rank)
      words[12 + i] = globalStrides[i];
  }
  memcpy(map, words, sizeof(words));
  return CUDA_SUCCESS;
}
