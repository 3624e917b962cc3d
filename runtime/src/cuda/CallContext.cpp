//===- CallContext.cpp - what the mgpu ABI works with ---------------------===//

#include "CallContext.h"
#include "HostTier.h"
#include "TierCache.h"

#include <algorithm>
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
  fail(call + ": " + describeAllocationFailure(result));
  return false;
}

void MemoryAccount::setLimit(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex);
  cap = bytes;
}

bool MemoryAccount::reserve(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex);
  if (cap && (live > cap || bytes > cap - live))
    return false;
  live += bytes;
  runPeak = std::max(runPeak, live);
  return true;
}

void MemoryAccount::bind(CUdeviceptr pointer, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex);
  if (pointer)
    sizes[pointer] += bytes;
  else
    live -= bytes;
}

void MemoryAccount::release(CUdeviceptr pointer) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = sizes.find(pointer);
  if (it == sizes.end())
    return;
  live -= it->second;
  sizes.erase(it);
}

void MemoryAccount::startRun() {
  std::lock_guard<std::mutex> lock(mutex);
  runPeak = live;
}

uint64_t MemoryAccount::peak() const {
  std::lock_guard<std::mutex> lock(mutex);
  return runPeak;
}

uint64_t MemoryAccount::limit() const {
  std::lock_guard<std::mutex> lock(mutex);
  return cap;
}

uint64_t MemoryAccount::held() const {
  std::lock_guard<std::mutex> lock(mutex);
  return live;
}

CUresult CallContext::allocate(CUdeviceptr &pointer, size_t bytes,
                               CUstream stream) const {
  for (;;) {
    pointer = 0;
    CUresult result = CUDA_ERROR_OUT_OF_MEMORY;
    refusedByLimit = account && !account->reserve(bytes);
    if (!refusedByLimit) {
      result =
          !streamOrderedAllocation ? driver->memAlloc(&pointer, bytes)
          : pool ? driver->memAllocFromPoolAsync(&pointer, bytes, pool, stream)
                 : driver->memAllocAsync(&pointer, bytes, stream);
      if (account)
        account->bind(result == CUDA_SUCCESS ? pointer : 0, bytes);
    }
    if (result != CUDA_ERROR_OUT_OF_MEMORY || !tierCache)
      return result;
    // Weights the tier cache keeps but no fetch holds give way: freed on
    // `stream`, so that this allocation is ordered after the free.
    DeviceCacheMemory memory(*this, stream);
    if (!tierCache->evictOne(memory))
      return result;
  }
}

bool DeviceCacheMemory::allocate(size_t bytes, void *&buffer,
                                 std::string &error) {
  CUdeviceptr pointer = 0;
  CUresult result = call.allocate(pointer, bytes, stream);
  buffer = reinterpret_cast<void *>(pointer);
  if (result == CUDA_SUCCESS)
    return true;
  error = std::string(call.allocateName()) + "(" + std::to_string(bytes) +
          " bytes): " + call.describeAllocationFailure(result);
  buffer = nullptr;
  return false;
}

void DeviceCacheMemory::free(void *buffer) {
  if (buffer)
    call.release(reinterpret_cast<CUdeviceptr>(buffer), stream);
}

CUresult CallContext::release(CUdeviceptr pointer, CUstream stream) const {
  if (account)
    account->release(pointer);
  if (streamOrderedAllocation)
    return driver->memFreeAsync(pointer, stream);
  return driver->memFree(pointer);
}

std::string MemoryAccount::describeLimit() const {
  return "the session's device memory limit is " + std::to_string(limit()) +
         " bytes, " + std::to_string(held()) +
         " held: moert_session_set_device_memory_limit";
}

std::string CallContext::describeAllocationFailure(CUresult result) const {
  std::string text = driver->describe(result);
  if (result == CUDA_ERROR_OUT_OF_MEMORY && refusedByLimit && account)
    text += " (" + account->describeLimit() + ")";
  return text;
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
