//===- MemoryPool.h - the runtime's own pool of device memory ---*- C++ -*-===//
//
// Every device allocation of a CUDA session (a run's buffers, the kernels'
// mgpuMemAlloc results, tensor maps, tier-cache entries, NCCL staging: all
// through CallContext::allocate) is stream-ordered. Taken from the device's
// default pool, whose release threshold is 0, that memory would go back to
// the OS at the synchronization that ends each run, and the next run's
// allocations would map it again, on the host, while the GPU idles between
// kernels: a compiled layer allocates hundreds of MB of intermediates per run.
// So sessions allocate from a pool of the runtime's own, whose release
// threshold is UINT64_MAX: freed memory stays mapped, and the next run's
// allocations reuse it without a call into the OS.
//
// The runtime's own pool rather than the default one with a new threshold: a
// host embedding the runtime (PyTorch with its cudaMallocAsync backend, or
// anything calling cuMemAllocAsync) allocates from the default pool and must
// not see its settings changed. One pool per device, shared by the process's
// sessions on it, as they would share the default pool: a model run as one
// session per layer keeps mapped what its layers hold at once, not the sum of
// every layer's intermediates. The first session on a device creates the
// pool, the last one released destroys it; until then the pool keeps its
// high-water mark mapped (memory the host's other allocators cannot use).
//
// Where the driver lacks the pool entry points, creating the pool or setting
// its threshold fails, or MOERT_CUDA_MEMORY_POOL=0, there is no pool and
// sessions allocate as they did before: cuMemAllocAsync from the device's
// current pool. Never a failure.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_MEMORYPOOL_H
#define MOERT_CUDA_MEMORYPOOL_H

#include "CudaDriver.h"

#include <cstdint>
#include <string>

namespace moert::cuda {

/// A reference to the runtime's memory pool of one device (the driver's
/// `device`, of `driver`): a session holds one for its life.
class DeviceMemoryPool {
public:
  /// Takes a reference, creating the pool where no other reference exists
  /// (or leaving handle() null, with the reason in unavailable()).
  DeviceMemoryPool(const CudaDriver *driver, CUdevice device);
  /// Drops the reference; the last one destroys the pool. The holder's
  /// allocations from it must be freed and its streams synchronized by then
  /// (the driver would otherwise keep the pool's memory until they are).
  ~DeviceMemoryPool();
  DeviceMemoryPool(const DeviceMemoryPool &) = delete;
  DeviceMemoryPool &operator=(const DeviceMemoryPool &) = delete;

  /// The pool to allocate from (cuMemAllocFromPoolAsync); null: none.
  CUmemoryPool handle() const { return pool; }
  /// Why there is no pool ("" while there is one).
  const std::string &unavailable() const { return reason; }
  /// Bytes the pool keeps mapped that no allocation uses: free for the
  /// sessions' allocations, though cuMemGetInfo counts them as used. 0 when
  /// unknown or without a pool.
  uint64_t idleBytes() const;

private:
  const CudaDriver *driver;
  CUdevice device;
  CUmemoryPool pool = nullptr;
  std::string reason;
};

} // namespace moert::cuda

#endif // MOERT_CUDA_MEMORYPOOL_H
