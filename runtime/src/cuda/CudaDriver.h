//===- CudaDriver.h - the CUDA driver, loaded at run time -------*- C++ -*-===//
//
// The runtime never links libcuda: it loads the driver library when the first
// cuda session is created (dlopen "libcuda.so.1", or the path in the
// environment variable MOERT_CUDA_DRIVER_LIBRARY) and resolves each entry
// point it uses by name, the `_v2` names where the driver has them. cuda.h is
// used for types and enums only, so the runtime builds without a GPU or a
// driver.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_CUDADRIVER_H
#define MOERT_CUDA_CUDADRIVER_H

#include <cuda.h>

#include <string>

namespace moert::cuda {

// X(member, declaration in cuda.h, symbol[, older symbol]): every driver entry
// point the runtime calls. Members are named without the `cu` prefix (cuda.h
// defines some `cu*` names as macros for their `_v2` versions).
#define MOERT_CUDA_DRIVER_REQUIRED(X)                                          \
  X(init, cuInit, "cuInit")                                                    \
  X(getErrorName, cuGetErrorName, "cuGetErrorName")                            \
  X(getErrorString, cuGetErrorString, "cuGetErrorString")                      \
  X(deviceGetCount, cuDeviceGetCount, "cuDeviceGetCount")                      \
  X(deviceGet, cuDeviceGet, "cuDeviceGet")                                     \
  X(deviceGetName, cuDeviceGetName, "cuDeviceGetName")                         \
  X(deviceGetAttribute, cuDeviceGetAttribute, "cuDeviceGetAttribute")          \
  X(devicePrimaryCtxRetain, cuDevicePrimaryCtxRetain,                          \
    "cuDevicePrimaryCtxRetain")                                                \
  X(devicePrimaryCtxRelease, cuDevicePrimaryCtxRelease,                        \
    "cuDevicePrimaryCtxRelease_v2")                                            \
  X(ctxPushCurrent, cuCtxPushCurrent, "cuCtxPushCurrent_v2")                   \
  X(ctxPopCurrent, cuCtxPopCurrent, "cuCtxPopCurrent_v2")                      \
  X(memGetInfo, cuMemGetInfo, "cuMemGetInfo_v2")                               \
  X(memAlloc, cuMemAlloc, "cuMemAlloc_v2")                                     \
  X(memFree, cuMemFree, "cuMemFree_v2")                                        \
  X(memcpyAsync, cuMemcpyAsync, "cuMemcpyAsync")                               \
  X(memcpyHtoDAsync, cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2")                \
  X(memcpyDtoHAsync, cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2")                \
  X(memcpyDtoDAsync, cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2")                \
  X(memsetD32Async, cuMemsetD32Async, "cuMemsetD32Async")                      \
  X(memsetD16Async, cuMemsetD16Async, "cuMemsetD16Async")                      \
  X(moduleLoadData, cuModuleLoadData, "cuModuleLoadData")                      \
  X(moduleLoadDataEx, cuModuleLoadDataEx, "cuModuleLoadDataEx")                \
  X(moduleUnload, cuModuleUnload, "cuModuleUnload")                            \
  X(moduleGetFunction, cuModuleGetFunction, "cuModuleGetFunction")             \
  X(funcSetAttribute, cuFuncSetAttribute, "cuFuncSetAttribute")                \
  X(launchKernel, cuLaunchKernel, "cuLaunchKernel")                            \
  X(streamCreate, cuStreamCreate, "cuStreamCreate")                            \
  X(streamDestroy, cuStreamDestroy, "cuStreamDestroy_v2")                      \
  X(streamSynchronize, cuStreamSynchronize, "cuStreamSynchronize")             \
  X(streamWaitEvent, cuStreamWaitEvent, "cuStreamWaitEvent")                   \
  X(streamIsCapturing, cuStreamIsCapturing, "cuStreamIsCapturing")             \
  X(eventCreate, cuEventCreate, "cuEventCreate")                               \
  X(eventDestroy, cuEventDestroy, "cuEventDestroy_v2")                         \
  X(eventRecord, cuEventRecord, "cuEventRecord")                               \
  X(eventSynchronize, cuEventSynchronize, "cuEventSynchronize")                \
  X(eventElapsedTime, cuEventElapsedTime, "cuEventElapsedTime_v2",             \
    "cuEventElapsedTime")

// Newer entry points (and a few that only some paths use): null when the
// driver lacks them; their users say so or do without. The stream-ordered
// ones by their plain names, not the `_ptsz` ones: a null stream argument is
// the legacy default stream, as for every other call here. The memory pool
// entry points (CUDA 11.2) serve the runtime's own pool (MemoryPool.h).
#define MOERT_CUDA_DRIVER_OPTIONAL(X)                                          \
  X(memAllocAsync, cuMemAllocAsync, "cuMemAllocAsync")                         \
  X(memFreeAsync, cuMemFreeAsync, "cuMemFreeAsync")                            \
  X(memPoolCreate, cuMemPoolCreate, "cuMemPoolCreate")                         \
  X(memPoolDestroy, cuMemPoolDestroy, "cuMemPoolDestroy")                      \
  X(memPoolSetAttribute, cuMemPoolSetAttribute, "cuMemPoolSetAttribute")       \
  X(memPoolGetAttribute, cuMemPoolGetAttribute, "cuMemPoolGetAttribute")       \
  X(memAllocFromPoolAsync, cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync") \
  X(launchKernelEx, cuLaunchKernelEx, "cuLaunchKernelEx")                      \
  X(tensorMapEncodeTiled, cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled")  \
  X(memAllocHost, cuMemAllocHost, "cuMemAllocHost_v2", "cuMemAllocHost")      \
  X(memFreeHost, cuMemFreeHost, "cuMemFreeHost")                              \
  X(eventQuery, cuEventQuery, "cuEventQuery")                                  \
  X(streamCreateWithPriority, cuStreamCreateWithPriority,                      \
    "cuStreamCreateWithPriority")                                              \
  X(ctxGetStreamPriorityRange, cuCtxGetStreamPriorityRange,                    \
    "cuCtxGetStreamPriorityRange")

/// The driver's entry points.
struct CudaDriver {
#define MOERT_CUDA_DRIVER_MEMBER(member, declaration, ...)                     \
  decltype(&::declaration) member = nullptr;
  MOERT_CUDA_DRIVER_REQUIRED(MOERT_CUDA_DRIVER_MEMBER)
  MOERT_CUDA_DRIVER_OPTIONAL(MOERT_CUDA_DRIVER_MEMBER)
#undef MOERT_CUDA_DRIVER_MEMBER

  /// "CUDA_ERROR_INVALID_VALUE (invalid argument)".
  std::string describe(CUresult result) const;
};

/// The process's driver, loaded on first use (thread-safe); null with the
/// reason in `error` when it cannot be loaded or lacks a required entry point.
/// The outcome of the first call stands for the life of the process.
const CudaDriver *loadCudaDriver(std::string &error);

/// The driver library that loadCudaDriver opens: MOERT_CUDA_DRIVER_LIBRARY
/// when set and not empty, else "libcuda.so.1".
std::string cudaDriverLibraryName();

} // namespace moert::cuda

#endif // MOERT_CUDA_CUDADRIVER_H
