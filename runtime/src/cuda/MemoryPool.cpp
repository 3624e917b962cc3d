//===- MemoryPool.cpp - the runtime's own pool of device memory -----------===//

#include "MemoryPool.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

namespace moert::cuda {

namespace {

/// The pools of the process, by driver and device, with their references.
struct Registry {
  struct Entry {
    CUmemoryPool pool = nullptr;
    size_t references = 0;
  };
  std::mutex mutex;
  std::map<std::pair<const CudaDriver *, CUdevice>, Entry> pools;
};

Registry &registry() {
  // Never destroyed: sessions may be released by static destructors.
  static Registry *instance = new Registry;
  return *instance;
}

/// A new pool of `device`'s memory that keeps what is freed; null, with the
/// reason in `reason`, where there can be none.
CUmemoryPool createPool(const CudaDriver &driver, CUdevice device,
                        std::string &reason) {
  if (const char *setting = std::getenv("MOERT_CUDA_MEMORY_POOL"))
    if (std::strcmp(setting, "0") == 0) {
      reason = "MOERT_CUDA_MEMORY_POOL=0";
      return nullptr;
    }
  if (!driver.memPoolCreate || !driver.memPoolDestroy ||
      !driver.memPoolSetAttribute || !driver.memAllocFromPoolAsync) {
    reason = "the CUDA driver lacks cuMemPoolCreate, cuMemPoolDestroy, "
             "cuMemPoolSetAttribute or cuMemAllocFromPoolAsync (CUDA 11.2 or "
             "later)";
    return nullptr;
  }
  // Device memory of `device`, as the default pool's; no IPC handles.
  CUmemPoolProps props;
  std::memset(&props, 0, sizeof(props));
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = static_cast<int>(device);
  CUmemoryPool pool = nullptr;
  CUresult result = driver.memPoolCreate(&pool, &props);
  if (result != CUDA_SUCCESS || !pool) {
    reason = "cuMemPoolCreate: " + driver.describe(result);
    return nullptr;
  }
  // The point of the pool: at a synchronization, a pool gives the memory it
  // holds beyond this threshold back to the OS, and the next run would map
  // it again. UINT64_MAX: never; the pool keeps its high-water mark.
  cuuint64_t threshold = UINT64_MAX;
  result = driver.memPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                                      &threshold);
  if (result != CUDA_SUCCESS) {
    // A pool that releases at every synchronization is no better than the
    // default one.
    driver.memPoolDestroy(pool);
    reason =
        "cuMemPoolSetAttribute(RELEASE_THRESHOLD): " + driver.describe(result);
    return nullptr;
  }
  return pool;
}

} // namespace

DeviceMemoryPool::DeviceMemoryPool(const CudaDriver *driver, CUdevice device)
    : driver(driver), device(device) {
  Registry &shared = registry();
  std::lock_guard<std::mutex> lock(shared.mutex);
  auto key = std::make_pair(driver, device);
  auto it = shared.pools.find(key);
  if (it == shared.pools.end()) {
    CUmemoryPool created = createPool(*driver, device, reason);
    if (!created)
      return;
    it = shared.pools.emplace(key, Registry::Entry{created, 0}).first;
  }
  ++it->second.references;
  pool = it->second.pool;
}

DeviceMemoryPool::~DeviceMemoryPool() {
  if (!pool)
    return;
  Registry &shared = registry();
  std::lock_guard<std::mutex> lock(shared.mutex);
  auto it = shared.pools.find(std::make_pair(driver, device));
  if (it == shared.pools.end() || --it->second.references != 0)
    return;
  // Whatever the pool still holds mapped goes back to the OS.
  driver->memPoolDestroy(it->second.pool);
  shared.pools.erase(it);
}

uint64_t DeviceMemoryPool::idleBytes() const {
  if (!pool || !driver->memPoolGetAttribute)
    return 0;
  cuuint64_t reserved = 0, used = 0;
  if (driver->memPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT,
                                  &reserved) != CUDA_SUCCESS ||
      driver->memPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT,
                                  &used) != CUDA_SUCCESS ||
      used > reserved)
    return 0;
  return reserved - used;
}

} // namespace moert::cuda
