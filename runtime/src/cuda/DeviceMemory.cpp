//===- DeviceMemory.cpp - a run's buffers in CUDA device memory -----------===//

#include "DeviceMemory.h"

#include <cstdlib>
#include <vector>

namespace moert::cuda {

moert_status_code_t DeviceMemory::check(CUresult result, const char *call,
                                        std::string &error,
                                        moert_status_code_t failure) {
  if (result == CUDA_SUCCESS)
    return MOERT_OK;
  error = std::string(call) + ": " + context.describeAllocationFailure(result);
  return result == CUDA_ERROR_OUT_OF_MEMORY ? MOERT_ERROR_OUT_OF_MEMORY
                                            : failure;
}

moert_status_code_t DeviceMemory::allocate(size_t bytes, void *&memory,
                                           std::string &error) {
  memory = nullptr;
  if (bytes == 0)
    return MOERT_OK;
  CUdeviceptr pointer = 0;
  moert_status_code_t code =
      check(context.allocate(pointer, bytes, context.stream),
            context.allocateName(), error);
  memory = reinterpret_cast<void *>(pointer);
  return code;
}

void DeviceMemory::free(void *allocation) {
  if (allocation)
    context.release(reinterpret_cast<CUdeviceptr>(allocation), context.stream);
}

moert_status_code_t DeviceMemory::copyInput(void *buffer,
                                            const TensorData &input,
                                            std::string &error) {
  if (!input.byteSize)
    return MOERT_OK;
  return check(context.driver->memcpyHtoDAsync(
                   reinterpret_cast<CUdeviceptr>(buffer), input.data,
                   input.byteSize, context.stream),
               "cuMemcpyHtoDAsync", error);
}

moert_status_code_t DeviceMemory::allocateHost(size_t bytes, void *&memory,
                                               std::string &error) {
  memory = nullptr;
  if (bytes == 0)
    return MOERT_OK;
  if (mirrors) {
    // The tier cache is on: a host input is used in place (its mirror is
    // page-locked), so this buffer serves only a device input bound to a
    // host-tier buffer. Heap pages nobody touches cost nothing, where a
    // page-locked block would double the pinned memory of the weights.
    memory = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!memory) {
      error = "out of host memory";
      return MOERT_ERROR_OUT_OF_MEMORY;
    }
    heapHost.insert(memory);
    return MOERT_OK;
  }
  return check(pinned.take(bytes, memory), "cuMemAllocHost", error,
               MOERT_ERROR_OUT_OF_MEMORY);
}

void DeviceMemory::freeHost(void *allocation) {
  if (!allocation)
    return;
  if (heapHost.erase(allocation))
    std::free(allocation);
  else
    pinned.give(allocation);
}

moert_status_code_t DeviceMemory::copyInputToHost(void *buffer,
                                                  const TensorData &input,
                                                  std::string &error) {
  if (!input.byteSize)
    return MOERT_OK;
  if (!input.device) {
    // Page-locked blocks may still be read by copies of the previous run
    // on the copy stream: the previous run synchronized its stream, which
    // waited for each of them.
    copyHostParallel(buffer, input.data, input.byteSize);
    return MOERT_OK;
  }
  if (moert_status_code_t code = check(
          context.driver->memcpyDtoHAsync(
              buffer, reinterpret_cast<CUdeviceptr>(input.data),
              input.byteSize, context.stream),
          "cuMemcpyDtoHAsync", error))
    return code;
  return check(context.driver->streamSynchronize(context.stream),
               "cuStreamSynchronize", error);
}

moert_status_code_t DeviceMemory::copyOutput(const TensorData &output,
                                             const void *buffer,
                                             std::string &error) {
  if (!output.byteSize)
    return MOERT_OK;
  CUdeviceptr source = reinterpret_cast<CUdeviceptr>(buffer);
  if (output.device)
    return check(context.driver->memcpyDtoDAsync(
                     reinterpret_cast<CUdeviceptr>(output.data), source,
                     output.byteSize, context.stream),
                 "cuMemcpyDtoDAsync", error);
  return check(context.driver->memcpyDtoHAsync(output.data, source,
                                               output.byteSize, context.stream),
               "cuMemcpyDtoHAsync", error);
}

moert_status_code_t DeviceMemory::copyStrided(const void *base,
                                              const TensorType &type,
                                              const int64_t *strides,
                                              void *dense, std::string &error) {
  // Rare (kernels return identity layouts): through the host. The span the
  // view covers comes down, the host gathers it, the dense copy goes up.
  size_t elementSize = moert_dtype_size(type.dtype);
  uint64_t span = 1;
  for (size_t i = 0; i < type.shape.size(); ++i) {
    if (type.shape[i] == 0)
      return MOERT_OK;
    if (strides[i] < 0) {
      error = "negative strides are not supported on cuda";
      return MOERT_ERROR_UNSUPPORTED;
    }
    span += uint64_t(type.shape[i] - 1) * uint64_t(strides[i]);
  }
  std::vector<char> view(span * elementSize), gathered(type.byteSize);
  if (moert_status_code_t code =
          check(context.driver->memcpyDtoHAsync(
                    view.data(), reinterpret_cast<CUdeviceptr>(base),
                    view.size(), context.stream),
                "cuMemcpyDtoHAsync", error))
    return code;
  if (moert_status_code_t code =
          check(context.driver->streamSynchronize(context.stream),
                "cuStreamSynchronize", error))
    return code;
  hostMemory().copyStrided(view.data(), type, strides, gathered.data(), error);
  if (moert_status_code_t code =
          check(context.driver->memcpyHtoDAsync(
                    reinterpret_cast<CUdeviceptr>(dense), gathered.data(),
                    gathered.size(), context.stream),
                "cuMemcpyHtoDAsync", error))
    return code;
  // `gathered` must outlive the copy.
  return check(context.driver->streamSynchronize(context.stream),
               "cuStreamSynchronize", error);
}

void DeviceMemory::beforeCall(const Kernel &) {
  if (firstCallHook) {
    std::function<void()> hook = std::move(firstCallHook);
    firstCallHook = nullptr;
    hook();
  }
  if (callStart && !startRecorded)
    startRecorded =
        context.driver->eventRecord(callStart, context.stream) == CUDA_SUCCESS;
}

moert_status_code_t DeviceMemory::afterCall(const Kernel &,
                                            std::string &error) {
  if (callEnd && startRecorded)
    endRecorded =
        context.driver->eventRecord(callEnd, context.stream) == CUDA_SUCCESS;
  if (!context.failed())
    return MOERT_OK;
  error = context.failure;
  return MOERT_ERROR_KERNEL;
}

} // namespace moert::cuda
