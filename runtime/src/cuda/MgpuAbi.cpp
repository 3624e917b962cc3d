//===- MgpuAbi.cpp - the mgpu* C ABI of CUDA bundles' host code -----------===//
//
// MLIR's GPU host lowering (gpu.launch_func, gpu.alloc, gpu.memcpy,
// nvgpu.tma.create.descriptor, ...) emits calls to these functions; the
// KERNELS object of a CUDA bundle leaves them undefined and they resolve to
// these when the runtime loads it (bundle_format.h, MOERT_BUNDLE_CUDA_ABI).
// Signatures are those of the LLVM IR that MLIR 22 emits (intptr_t: int64).
//
// Each function works in the calling thread's CallContext (set by the CUDA
// backend around kernel loading and runs): the session's driver, context and
// stream. A failing driver call is recorded there, and from then on the
// functions do no work except releasing memory (frees, unloads, destroys).
// Outside a moert run they do nothing, and those that would do work say so
// once on stderr (releases are quiet: a process that exits without releasing
// its sessions unloads kernels after the run).
//
//===----------------------------------------------------------------------===//

#include "MgpuAbi.h"
#include "CallContext.h"
#include "TensorMapCache.h"

#include <atomic>
#include <cinttypes>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>

using namespace moert::cuda;

namespace {

/// The calling thread's context; null outside a moert run, after one note on
/// stderr unless `quiet`.
CallContext *active(const char *function, bool quiet = false) {
  CallContext *context = currentCallContext();
  if (!context && !quiet) {
    static std::atomic<bool> noted{false};
    if (!noted.exchange(true))
      std::fprintf(stderr,
                   "moert: %s called outside a moert run (a CUDA bundle's "
                   "kernels run only through a moert session); ignored\n",
                   function);
  }
  return context;
}

/// The context when work may still be done: no failure recorded yet.
CallContext *working(const char *function) {
  CallContext *context = active(function);
  return context && !context->failed() ? context : nullptr;
}

CUstream streamOf(const CallContext &context, void *stream) {
  return stream ? static_cast<CUstream>(stream) : context.stream;
}

CUdeviceptr devicePointer(const void *pointer) {
  return reinterpret_cast<CUdeviceptr>(pointer);
}

std::string hex(const void *pointer) {
  char text[32];
  std::snprintf(text, sizeof(text), "%p", pointer);
  return text;
}

/// "64x1x1".
std::string dims(intptr_t x, intptr_t y, intptr_t z) {
  return std::to_string(x) + "x" + std::to_string(y) + "x" + std::to_string(z);
}

bool validDims(intptr_t x, intptr_t y, intptr_t z) {
  for (intptr_t d : {x, y, z})
    if (d < 1 || d > intptr_t(UINT_MAX))
      return false;
  return true;
}

/// Checks what both launches share and allows dynamic shared memory over the
/// default 48 KiB (per function); `call` makes the launch's text.
template <typename Call>
bool prepareLaunch(CallContext &context, CUfunction function, Call call,
                   intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                   intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                   int32_t smem) {
  if (!validDims(gridX, gridY, gridZ) || !validDims(blockX, blockY, blockZ) ||
      smem < 0) {
    context.fail(call() + ": invalid launch dimensions or shared memory size");
    return false;
  }
  if (smem <= 48 * 1024)
    return true;
  return context.checkLazy(
      context.driver->funcSetAttribute(
          function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem),
      [&] {
        return "cuFuncSetAttribute(" + context.kernelName(function) +
               ", MAX_DYNAMIC_SHARED_SIZE_BYTES, " + std::to_string(smem) + ")";
      });
}

/// Bytes of an element of each CUtensorMapDataType (0: not supported here).
size_t tensorMapElementSize(int32_t dataType) {
  switch (dataType) {
  case CU_TENSOR_MAP_DATA_TYPE_UINT8:
    return 1;
  case CU_TENSOR_MAP_DATA_TYPE_UINT16:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
  case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16:
    return 2;
  case CU_TENSOR_MAP_DATA_TYPE_UINT32:
  case CU_TENSOR_MAP_DATA_TYPE_INT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ:
    return 4;
  case CU_TENSOR_MAP_DATA_TYPE_UINT64:
  case CU_TENSOR_MAP_DATA_TYPE_INT64:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT64:
    return 8;
  default:
    return 0;
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Modules and functions
//===----------------------------------------------------------------------===//

MOERT_MGPU_API void *mgpuModuleLoad(void *data, uint64_t size) {
  CallContext *context = working(__func__);
  if (!context)
    return nullptr;
  CUmodule module = nullptr;
  context->checkLazy(context->driver->moduleLoadData(&module, data), [&] {
    return "cuModuleLoadData(" + std::to_string(size) + "-byte image)";
  });
  return module;
}

MOERT_MGPU_API void *mgpuModuleLoadJIT(void *data, int optLevel) {
  CallContext *context = working(__func__);
  if (!context)
    return nullptr;
  char log[4096] = {0};
  CUjit_option options[] = {CU_JIT_OPTIMIZATION_LEVEL, CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {reinterpret_cast<void *>(intptr_t(optLevel)), log,
                    reinterpret_cast<void *>(uintptr_t(sizeof(log) - 1))};
  CUmodule module = nullptr;
  context->checkLazy(
      context->driver->moduleLoadDataEx(&module, data, 3, options, values),
      [&] {
        std::string call =
            "cuModuleLoadDataEx(PTX, O" + std::to_string(optLevel) + ")";
        if (log[0])
          call += " [JIT log: " + std::string(log) + "]";
        return call;
      });
  return module;
}

MOERT_MGPU_API void mgpuModuleUnload(void *module) {
  CallContext *context = active(__func__, /*quiet=*/true);
  if (!context || !module)
    return;
  context->check(context->driver->moduleUnload(static_cast<CUmodule>(module)),
                 "cuModuleUnload");
}

MOERT_MGPU_API void *mgpuModuleGetFunction(void *module, const char *name) {
  CallContext *context = working(__func__);
  if (!context)
    return nullptr;
  CUfunction function = nullptr;
  if (context->checkLazy(context->driver->moduleGetFunction(
                             &function, static_cast<CUmodule>(module), name),
                         [&] {
                           return "cuModuleGetFunction(" +
                                  std::string(name ? name : "(null)") + ")";
                         }) &&
      context->names)
    context->names->set(function, name);
  return function;
}

//===----------------------------------------------------------------------===//
// Launches
//===----------------------------------------------------------------------===//

MOERT_MGPU_API void mgpuLaunchKernel(void *function, intptr_t gridX,
                                     intptr_t gridY, intptr_t gridZ,
                                     intptr_t blockX, intptr_t blockY,
                                     intptr_t blockZ, int32_t smem,
                                     void *stream, void **params, void **extra,
                                     size_t /*paramsCount*/) {
  CallContext *context = working(__func__);
  if (!context)
    return;
  CUfunction f = static_cast<CUfunction>(function);
  auto call = [&] {
    return "cuLaunchKernel(" + context->kernelName(f) + ", grid " +
           dims(gridX, gridY, gridZ) + ", block " +
           dims(blockX, blockY, blockZ) + ", smem " + std::to_string(smem) +
           ")";
  };
  if (!prepareLaunch(*context, f, call, gridX, gridY, gridZ, blockX, blockY,
                     blockZ, smem))
    return;
  context->lastLaunch = f;
  context->checkLazy(context->driver->launchKernel(
                         f, unsigned(gridX), unsigned(gridY), unsigned(gridZ),
                         unsigned(blockX), unsigned(blockY), unsigned(blockZ),
                         unsigned(smem), streamOf(*context, stream), params,
                         extra),
                     call);
}

MOERT_MGPU_API void
mgpuLaunchClusterKernel(void *function, intptr_t clusterX, intptr_t clusterY,
                        intptr_t clusterZ, intptr_t gridX, intptr_t gridY,
                        intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                        intptr_t blockZ, int32_t smem, void *stream,
                        void **params, void **extra, size_t /*paramsCount*/) {
  CallContext *context = working(__func__);
  if (!context)
    return;
  CUfunction f = static_cast<CUfunction>(function);
  auto call = [&] {
    return "cuLaunchKernelEx(" + context->kernelName(f) + ", cluster " +
           dims(clusterX, clusterY, clusterZ) + ", grid " +
           dims(gridX, gridY, gridZ) + ", block " +
           dims(blockX, blockY, blockZ) + ", smem " + std::to_string(smem) +
           ")";
  };
  if (!context->driver->launchKernelEx) {
    context->fail(call() + ": the CUDA driver has no cuLaunchKernelEx "
                           "(CUDA 12.0 or later)");
    return;
  }
  if (!validDims(clusterX, clusterY, clusterZ)) {
    context->fail(call() + ": invalid cluster dimensions");
    return;
  }
  if (!prepareLaunch(*context, f, call, gridX, gridY, gridZ, blockX, blockY,
                     blockZ, smem))
    return;
  // Clusters of more than 8 blocks are non-portable and must be allowed.
  bool nonPortable = clusterX > 8 || clusterY > 8 || clusterZ > 8 ||
                     clusterX * clusterY * clusterZ > 8;
  if (nonPortable &&
      !context->checkLazy(
          context->driver->funcSetAttribute(
              f, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1),
          [&] {
            return "cuFuncSetAttribute(" + context->kernelName(f) +
                   ", NON_PORTABLE_CLUSTER_SIZE_ALLOWED)";
          }))
    return;
  CUlaunchAttribute attribute;
  std::memset(&attribute, 0, sizeof(attribute));
  attribute.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  attribute.value.clusterDim.x = unsigned(clusterX);
  attribute.value.clusterDim.y = unsigned(clusterY);
  attribute.value.clusterDim.z = unsigned(clusterZ);
  CUlaunchConfig config;
  std::memset(&config, 0, sizeof(config));
  config.gridDimX = unsigned(gridX);
  config.gridDimY = unsigned(gridY);
  config.gridDimZ = unsigned(gridZ);
  config.blockDimX = unsigned(blockX);
  config.blockDimY = unsigned(blockY);
  config.blockDimZ = unsigned(blockZ);
  config.sharedMemBytes = unsigned(smem);
  config.hStream = streamOf(*context, stream);
  config.attrs = &attribute;
  config.numAttrs = 1;
  context->lastLaunch = f;
  context->checkLazy(context->driver->launchKernelEx(&config, f, params, extra),
                     call);
}

//===----------------------------------------------------------------------===//
// Streams and events
//===----------------------------------------------------------------------===//

/// The session's stream: the runtime's own or the caller's.
MOERT_MGPU_API void *mgpuStreamCreate() {
  CallContext *context = active(__func__);
  return context ? context->stream : nullptr;
}

/// The session's stream outlives the call: nothing to do.
MOERT_MGPU_API void mgpuStreamDestroy(void * /*stream*/) {}

MOERT_MGPU_API void mgpuStreamSynchronize(void *stream) {
  CallContext *context = working(__func__);
  if (!context)
    return;
  CUstream s = streamOf(*context, stream);
  if (context->capturing(s))
    return; // being captured into a graph: the replay is ordered anyway
  context->checkLazy(context->driver->streamSynchronize(s), [&] {
    return "cuStreamSynchronize" + context->afterLastLaunch();
  });
}

MOERT_MGPU_API void mgpuStreamWaitEvent(void *stream, void *event) {
  CallContext *context = working(__func__);
  if (!context)
    return;
  context->check(context->driver->streamWaitEvent(streamOf(*context, stream),
                                                  static_cast<CUevent>(event),
                                                  0),
                 "cuStreamWaitEvent");
}

MOERT_MGPU_API void *mgpuEventCreate() {
  CallContext *context = working(__func__);
  if (!context)
    return nullptr;
  CUevent event = nullptr;
  context->check(context->driver->eventCreate(&event, CU_EVENT_DISABLE_TIMING),
                 "cuEventCreate");
  return event;
}

MOERT_MGPU_API void mgpuEventDestroy(void *event) {
  CallContext *context = active(__func__, /*quiet=*/true);
  if (!context || !event)
    return;
  context->check(context->driver->eventDestroy(static_cast<CUevent>(event)),
                 "cuEventDestroy");
}

MOERT_MGPU_API void mgpuEventSynchronize(void *event) {
  CallContext *context = working(__func__);
  if (!context || context->capturing(context->stream))
    return;
  context->check(context->driver->eventSynchronize(static_cast<CUevent>(event)),
                 "cuEventSynchronize");
}

MOERT_MGPU_API void mgpuEventRecord(void *event, void *stream) {
  CallContext *context = working(__func__);
  if (!context)
    return;
  context->check(context->driver->eventRecord(static_cast<CUevent>(event),
                                              streamOf(*context, stream)),
                 "cuEventRecord");
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

MOERT_MGPU_API void *mgpuMemAlloc(uint64_t sizeBytes, void *stream,
                                  bool isHostShared) {
  CallContext *context = working(__func__);
  if (!context || sizeBytes == 0)
    return nullptr;
  if (isHostShared) {
    context->fail("mgpuMemAlloc(" + std::to_string(sizeBytes) +
                  " bytes, host-shared): host-shared (managed) memory is not "
                  "supported; allocate device memory");
    return nullptr;
  }
  CUdeviceptr pointer = 0;
  context->checkLazy(
      context->allocate(pointer, sizeBytes, streamOf(*context, stream)), [&] {
        return std::string(context->allocateName()) + "(" +
               std::to_string(sizeBytes) + " bytes)";
      });
  return reinterpret_cast<void *>(pointer);
}

MOERT_MGPU_API void mgpuMemFree(void *pointer, void *stream) {
  CallContext *context = active(__func__, /*quiet=*/true);
  if (!context || !pointer)
    return;
  context->checkLazy(
      context->release(devicePointer(pointer), streamOf(*context, stream)),
      [&] {
        return std::string(context->releaseName()) + "(" + hex(pointer) + ")";
      });
}

MOERT_MGPU_API void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                               void *stream) {
  CallContext *context = working(__func__);
  if (!context || sizeBytes == 0)
    return;
  context->checkLazy(context->driver->memcpyAsync(devicePointer(dst),
                                                  devicePointer(src), sizeBytes,
                                                  streamOf(*context, stream)),
                     [&] {
                       return "cuMemcpyAsync(" + hex(dst) + " <- " + hex(src) +
                              ", " + std::to_string(sizeBytes) + " bytes)";
                     });
}

MOERT_MGPU_API void mgpuMemset32(void *dst, unsigned value, size_t count,
                                 void *stream) {
  CallContext *context = working(__func__);
  if (!context || count == 0)
    return;
  context->checkLazy(
      context->driver->memsetD32Async(devicePointer(dst), value, count,
                                      streamOf(*context, stream)),
      [&] {
        return "cuMemsetD32Async(" + hex(dst) + ", " + std::to_string(count) +
               " words)";
      });
}

MOERT_MGPU_API void mgpuMemset16(void *dst, unsigned short value, size_t count,
                                 void *stream) {
  CallContext *context = working(__func__);
  if (!context || count == 0)
    return;
  context->checkLazy(
      context->driver->memsetD16Async(devicePointer(dst), value, count,
                                      streamOf(*context, stream)),
      [&] {
        return "cuMemsetD16Async(" + hex(dst) + ", " + std::to_string(count) +
               " half-words)";
      });
}

MOERT_MGPU_API void mgpuSetDefaultDevice(int32_t device) {
  CallContext *context = working(__func__);
  if (context && device != context->device)
    context->fail("mgpuSetDefaultDevice(" + std::to_string(device) +
                  "): this session runs on CUDA device " +
                  std::to_string(context->device));
}

//===----------------------------------------------------------------------===//
// TMA descriptors
//===----------------------------------------------------------------------===//

/// Encodes a tiled CUtensorMap for the memref `rankedDescriptor` (MLIR's
/// {allocated, aligned, offset, sizes[rank], strides[rank]}, innermost
/// dimension last) with boxes of `boxDimensions` (same order) and returns
/// its device copy: the session's TensorMapCache holds each distinct map once,
/// for the session's life (TensorMapCache.h).
MOERT_MGPU_API void *
mgpuTensorMapEncodeTiledMemref(int64_t tensorRank, void *rankedDescriptor,
                               int32_t dataType, int32_t interleave,
                               int32_t swizzle, int32_t l2Promotion,
                               int32_t oobFill, int64_t *boxDimensions) {
  CallContext *context = working(__func__);
  if (!context)
    return nullptr;
  std::string call = "cuTensorMapEncodeTiled(rank " +
                     std::to_string(tensorRank) + ", data type " +
                     std::to_string(dataType) + ")";
  size_t elementSize = tensorMapElementSize(dataType);
  if (!context->driver->tensorMapEncodeTiled) {
    context->fail(call + ": the CUDA driver has no cuTensorMapEncodeTiled "
                         "(CUDA 12.0 or later)");
    return nullptr;
  }
  if (tensorRank < 1 || tensorRank > 5 || elementSize == 0 ||
      !rankedDescriptor || !boxDimensions) {
    context->fail(call + ": unsupported rank or data type (rank 1 to 5, "
                         "integer or floating-point elements)");
    return nullptr;
  }
  // The descriptor as 64-bit words; CUDA orders dimensions innermost first.
  const int64_t *words = static_cast<const int64_t *>(rankedDescriptor);
  size_t rank = size_t(tensorRank);
  char *aligned = nullptr;
  std::memcpy(&aligned, &words[1], sizeof(aligned));
  const int64_t *sizes = &words[3], *strides = &words[3 + rank];
  void *address = aligned + words[2] * int64_t(elementSize);
  cuuint64_t globalDim[5] = {1, 1, 1, 1, 1}, globalStrides[5] = {0};
  cuuint32_t boxDim[5] = {1, 1, 1, 1, 1}, elementStrides[5] = {1, 1, 1, 1, 1};
  for (size_t i = 0; i < rank; ++i) {
    globalDim[i] = cuuint64_t(sizes[rank - 1 - i]);
    boxDim[i] = cuuint32_t(boxDimensions[rank - 1 - i]);
  }
  for (size_t i = 0; i + 1 < rank; ++i)
    globalStrides[i] = cuuint64_t(strides[rank - 2 - i]) * elementSize;
  // Zeroed: the cache compares maps by all their bytes.
  CUtensorMap map;
  std::memset(&map, 0, sizeof(map));
  if (!context->check(context->driver->tensorMapEncodeTiled(
                          &map, CUtensorMapDataType(dataType), cuuint32_t(rank),
                          address, globalDim, globalStrides, boxDim,
                          elementStrides, CUtensorMapInterleave(interleave),
                          CUtensorMapSwizzle(swizzle),
                          CUtensorMapL2promotion(l2Promotion),
                          CUtensorMapFloatOOBfill(oobFill)),
                      call))
    return nullptr;
  if (!context->tensorMaps) {
    context->fail(call + ": this run has no tensor map cache");
    return nullptr;
  }
  CUdeviceptr device = 0;
  std::string failedCall;
  CUresult found = context->tensorMaps->find(
      map, context->stream, context->capturing(context->stream), device,
      failedCall);
  if (!context->check(found, failedCall))
    return nullptr;
  return reinterpret_cast<void *>(device);
}
