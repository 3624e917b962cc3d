//===- TensorMapCache.cpp - a session's TMA descriptors, by content -------===//

#include "TensorMapCache.h"

#include <cstring>
#include <new>

namespace moert::cuda {

void TensorMapCache::freeDevice(CUdeviceptr device) {
  driver->memFree(device);
  if (account)
    account->release(device);
}

TensorMapCache::~TensorMapCache() {
  for (Slab &slab : slabs) {
    if (slab.device)
      freeDevice(slab.device);
    if (slab.pinned)
      driver->memFreeHost(slab.host);
    else
      delete[] slab.host;
  }
}

CUresult TensorMapCache::makeRoom(CUstream stream, bool capturing,
                                  std::string &call) {
  if (used < slabs.size() * kMapsPerSlab)
    return CUDA_SUCCESS;
  if (slabs.size() >= kSlabsBeforeReuse && !captured && !capturing) {
    // Start over once the kernels that read the old maps are done.
    CUresult result = driver->streamSynchronize(stream);
    if (result != CUDA_SUCCESS) {
      call = "cuStreamSynchronize (reusing tensor maps)";
      return result;
    }
    byBytes.clear();
    used = 0;
    return CUDA_SUCCESS;
  }
  Slab slab;
  const size_t bytes = kMapsPerSlab * sizeof(CUtensorMap);
  call = "cuMemAlloc(" + std::to_string(bytes) + " bytes of tensor maps)";
  if (account && !account->reserve(bytes)) {
    call += " past the limit (" + account->describeLimit() + ")";
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  CUresult result = driver->memAlloc(&slab.device, bytes);
  if (account)
    account->bind(result == CUDA_SUCCESS ? slab.device : 0, bytes);
  if (result != CUDA_SUCCESS)
    return result;
  void *host = nullptr;
  if (driver->memAllocHost && driver->memFreeHost &&
      driver->memAllocHost(&host, bytes) == CUDA_SUCCESS && host) {
    slab.host = static_cast<CUtensorMap *>(host);
    slab.pinned = true;
  } else {
    // Without page-locked memory the copies still work outside a capture.
    slab.host = new (std::nothrow) CUtensorMap[kMapsPerSlab];
    if (!slab.host) {
      freeDevice(slab.device);
      call = "allocating " + std::to_string(bytes) + " host bytes of tensor maps";
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
  }
  slabs.push_back(slab);
  return CUDA_SUCCESS;
}

CUresult TensorMapCache::find(const CUtensorMap &map, CUstream stream,
                              bool capturing, CUdeviceptr &device,
                              std::string &call) {
  std::lock_guard<std::mutex> lock(mutex);
  captured = captured || capturing;
  std::string key(reinterpret_cast<const char *>(&map), sizeof(map));
  auto it = byBytes.find(key);
  if (it != byBytes.end()) {
    device = it->second;
    return CUDA_SUCCESS;
  }
  if (CUresult result = makeRoom(stream, capturing, call);
      result != CUDA_SUCCESS)
    return result;
  Slab &slab = slabs[used / kMapsPerSlab];
  size_t slot = used % kMapsPerSlab;
  std::memcpy(&slab.host[slot], &map, sizeof(map));
  CUdeviceptr target = slab.device + slot * sizeof(CUtensorMap);
  CUresult result = driver->memcpyHtoDAsync(target, &slab.host[slot],
                                            sizeof(CUtensorMap), stream);
  if (result != CUDA_SUCCESS) {
    call = "cuMemcpyHtoDAsync(tensor map)";
    return result;
  }
  ++used;
  ++uploadCount;
  byBytes.emplace(std::move(key), target);
  device = target;
  return CUDA_SUCCESS;
}

size_t TensorMapCache::size() const {
  std::lock_guard<std::mutex> lock(mutex);
  return byBytes.size();
}

size_t TensorMapCache::uploads() const {
  std::lock_guard<std::mutex> lock(mutex);
  return uploadCount;
}

} // namespace moert::cuda
