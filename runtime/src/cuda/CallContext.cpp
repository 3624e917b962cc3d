//===- CallContext.cpp - what the mgpu ABI works with ---------------------===//

#include "CallContext.h"

#include <cstdio>

namespace moert::cuda {

namespace {
thread_local CallContext *current = nullptr;
} // namespace

void KernelNames::set(CUfunction function, const char *name) {
  std::lock_guard<std::mutex> lock(mutex);
  names[function] = name;
}

std::string KernelNames::get(CUfunction function) const {
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = names.find(function);
    if (it != names.end())
      return it->second;
  }
  char text[40];
  std::snprintf(text, sizeof(text), "kernel %p", static_cast<void *>(function));
  return text;
}

std::string CallContext::kernelName(CUfunction function) const {
  return names ? names->get(function) : "kernel";
}

std::string CallContext::afterLastLaunch() const {
  return lastLaunch ? " (after launching " + kernelName(lastLaunch) + ")" : "";
}

bool CallContext::check(CUresult result, const std::string &call) {
  if (result == CUDA_SUCCESS)
    return true;
  fail(call + ": " + driver->describe(result));
  return false;
}

CUresult CallContext::allocate(CUdeviceptr &pointer, size_t bytes,
                               CUstream stream) const {
  if (streamOrderedAllocation)
    return driver->memAllocAsync(&pointer, bytes, stream);
  return driver->memAlloc(&pointer, bytes);
}

CUresult CallContext::release(CUdeviceptr pointer, CUstream stream) const {
  if (streamOrderedAllocation)
    return driver->memFreeAsync(pointer, stream);
  return driver->memFree(pointer);
}

bool CallContext::capturing(CUstream stream) const {
  CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
  return driver->streamIsCapturing(stream, &status) == CUDA_SUCCESS &&
         status != CU_STREAM_CAPTURE_STATUS_NONE;
}

CallContext *currentCallContext() { return current; }

DeviceScope::DeviceScope(CallContext &context)
    : context(context), previous(current) {
  current = &context;
  pushed = context.check(context.driver->ctxPushCurrent(context.context),
                         "cuCtxPushCurrent");
}

DeviceScope::~DeviceScope() {
  if (pushed) {
    CUcontext popped = nullptr;
    context.driver->ctxPopCurrent(&popped);
  }
  current = previous;
}

} // namespace moert::cuda
