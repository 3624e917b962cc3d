//===- MgpuAbi.h - the mgpu* C ABI the runtime exports ----------*- C++ -*-===//
//
// Declarations of MgpuAbi.cpp: the functions the host code of a CUDA bundle's
// KERNELS calls (bundle_format.h, MOERT_BUNDLE_CUDA_ABI).
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_MGPUABI_H
#define MOERT_CUDA_MGPUABI_H

#include <cstddef>
#include <cstdint>

// Exported from libmoert.so (and from executables that link moert_static
// with -rdynamic), whatever the default visibility.
#define MOERT_MGPU_API extern "C" __attribute__((visibility("default")))

MOERT_MGPU_API void *mgpuModuleLoad(void *data, uint64_t size);
MOERT_MGPU_API void *mgpuModuleLoadJIT(void *data, int optLevel);
MOERT_MGPU_API void mgpuModuleUnload(void *module);
MOERT_MGPU_API void *mgpuModuleGetFunction(void *module, const char *name);
MOERT_MGPU_API void mgpuLaunchKernel(void *function, intptr_t gridX,
                                     intptr_t gridY, intptr_t gridZ,
                                     intptr_t blockX, intptr_t blockY,
                                     intptr_t blockZ, int32_t smem,
                                     void *stream, void **params, void **extra,
                                     size_t paramsCount);
MOERT_MGPU_API void
mgpuLaunchClusterKernel(void *function, intptr_t clusterX, intptr_t clusterY,
                        intptr_t clusterZ, intptr_t gridX, intptr_t gridY,
                        intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                        intptr_t blockZ, int32_t smem, void *stream,
                        void **params, void **extra, size_t paramsCount);
MOERT_MGPU_API void *mgpuStreamCreate();
MOERT_MGPU_API void mgpuStreamDestroy(void *stream);
MOERT_MGPU_API void mgpuStreamSynchronize(void *stream);
MOERT_MGPU_API void mgpuStreamWaitEvent(void *stream, void *event);
MOERT_MGPU_API void *mgpuEventCreate();
MOERT_MGPU_API void mgpuEventDestroy(void *event);
MOERT_MGPU_API void mgpuEventSynchronize(void *event);
MOERT_MGPU_API void mgpuEventRecord(void *event, void *stream);
MOERT_MGPU_API void *mgpuMemAlloc(uint64_t sizeBytes, void *stream,
                                  bool isHostShared);
MOERT_MGPU_API void mgpuMemFree(void *pointer, void *stream);
MOERT_MGPU_API void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                               void *stream);
MOERT_MGPU_API void mgpuMemset32(void *dst, unsigned value, size_t count,
                                 void *stream);
MOERT_MGPU_API void mgpuMemset16(void *dst, unsigned short value, size_t count,
                                 void *stream);
MOERT_MGPU_API void mgpuSetDefaultDevice(int32_t device);
MOERT_MGPU_API void *
mgpuTensorMapEncodeTiledMemref(int64_t tensorRank, void *rankedDescriptor,
                               int32_t dataType, int32_t interleave,
                               int32_t swizzle, int32_t l2Promotion,
                               int32_t oobFill, int64_t *boxDimensions);

#endif // MOERT_CUDA_MGPUABI_H
