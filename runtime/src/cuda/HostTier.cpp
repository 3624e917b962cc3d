//===- HostTier.cpp - host-tier buffers of a CUDA session -----------------===//

#include "HostTier.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace moert::cuda {

PinnedPool::~PinnedPool() {
  for (auto &[block, info] : blocks) {
    if (info.second)
      driver->memFreeHost(block);
    else
      std::free(block);
  }
}

CUresult PinnedPool::take(size_t bytes, void *&block) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = free.find(bytes);
  if (it != free.end()) {
    block = it->second;
    free.erase(it);
    return CUDA_SUCCESS;
  }
  block = nullptr;
  bool pinned = driver->memAllocHost && driver->memFreeHost;
  if (pinned) {
    CUresult result = driver->memAllocHost(&block, bytes);
    if (result != CUDA_SUCCESS)
      return result;
  } else {
    // Without the entry point the copies still work, synchronously.
    block = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!block)
      return CUDA_ERROR_OUT_OF_MEMORY;
  }
  blocks[block] = {bytes, pinned};
  return CUDA_SUCCESS;
}

void PinnedPool::give(void *block) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = blocks.find(block);
  if (it != blocks.end())
    free.emplace(it->second.first, block);
}

StreamCopier::~StreamCopier() {
  for (CUevent event : events)
    call.driver->eventDestroy(event);
}

bool StreamCopier::check(CUresult result, const char *what,
                         std::string &error) const {
  if (result == CUDA_SUCCESS)
    return true;
  error = std::string(what) + ": " + call.driver->describe(result);
  return false;
}

bool StreamCopier::start(const void *source, void *destination, size_t bytes,
                         uint64_t &token, std::string &error) {
  // The destination is a stream-ordered allocation on the run's stream: the
  // copy stream waits for what the run issued so far, then copies.
  CUevent issued = nullptr, copied = nullptr;
  if (!check(call.driver->eventCreate(&issued, CU_EVENT_DISABLE_TIMING),
             "cuEventCreate", error))
    return false;
  events.push_back(issued);
  if (!check(call.driver->eventCreate(&copied, CU_EVENT_DISABLE_TIMING),
             "cuEventCreate", error))
    return false;
  events.push_back(copied);
  if (!check(call.driver->eventRecord(issued, call.stream), "cuEventRecord",
             error) ||
      !check(call.driver->streamWaitEvent(copyStream, issued, 0),
             "cuStreamWaitEvent", error))
    return false;
  if (bytes &&
      !check(call.driver->memcpyHtoDAsync(
                 reinterpret_cast<CUdeviceptr>(destination), source, bytes,
                 copyStream),
             "cuMemcpyHtoDAsync", error))
    return false;
  if (!check(call.driver->eventRecord(copied, copyStream), "cuEventRecord",
             error))
    return false;
  token = events.size() - 1;
  return true;
}

bool StreamCopier::wait(uint64_t token, std::string &error) {
  if (token >= events.size()) {
    error = "unknown copy";
    return false;
  }
  return check(call.driver->streamWaitEvent(call.stream, events[token], 0),
               "cuStreamWaitEvent", error);
}

void copyHostParallel(void *destination, const void *source, size_t bytes) {
  constexpr size_t kSlice = size_t(64) << 20;
  size_t threads = std::min<size_t>(
      std::max(1u, std::thread::hardware_concurrency()), bytes / kSlice);
  if (threads <= 1) {
    if (bytes)
      std::memcpy(destination, source, bytes);
    return;
  }
  threads = std::min<size_t>(threads, 16);
  size_t share = (bytes + threads - 1) / threads;
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t) {
    size_t begin = t * share, end = std::min(bytes, begin + share);
    if (begin >= end)
      break;
    workers.emplace_back([=] {
      std::memcpy(static_cast<char *>(destination) + begin,
                  static_cast<const char *>(source) + begin, end - begin);
    });
  }
  for (std::thread &worker : workers)
    worker.join();
}

} // namespace moert::cuda
