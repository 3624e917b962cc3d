//===- TensorMapCache.h - a session's TMA descriptors, by content -*- C++ -*-===//
//
// A kernel that loads with TMA takes a pointer to its CUtensorMap (128 bytes)
// in device memory: the host code MLIR emits encodes the map before every
// launch (mgpuTensorMapEncodeTiledMemref) and needs it copied to the device.
// Copying each one anew, into a fresh allocation, from the encoder's stack,
// cost a pool allocation and a pageable copy per map per launch, host time
// that the GPU spent idle between the short kernels of a decode layer; and a
// copy from pageable memory cannot be replayed by a CUDA graph: a graph
// captured around a run (a serving engine's torch.cuda.graph) would read a
// stack that is long gone.
//
// So a session keeps the maps it has uploaded, keyed by their bytes: the same
// map (same tensor, box and swizzle) is the same device copy, and the next
// launch or run that encodes it uploads nothing. A new map is written into
// page-locked host memory that lives as long as its device copy, and copied
// on the run's stream from there: the copy is stream-ordered, so a graph
// that captures it copies the same bytes on every replay.
//
// Maps live in slabs (device memory from cuMemAlloc, not the stream-ordered
// pool, whose allocations a graph capture would turn into graph-owned
// memory). When every slab is full the cache starts over (after
// synchronizing the stream, so no kernel still reads a map) unless a map was
// ever handed out while a stream was being captured: a graph may then hold
// any of them, and the cache grows instead. The slabs count against the
// session's device memory limit (MemoryAccount) like any of its allocations.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_TENSORMAPCACHE_H
#define MOERT_CUDA_TENSORMAPCACHE_H

#include "CallContext.h"
#include "CudaDriver.h"

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace moert::cuda {

class TensorMapCache {
public:
  /// Maps a slab holds, and slabs before the cache starts over.
  static constexpr size_t kMapsPerSlab = 256, kSlabsBeforeReuse = 16;

  /// `account`: the session's device memory, which the slabs count in (none:
  /// not counted).
  explicit TensorMapCache(const CudaDriver *driver,
                          MemoryAccount *account = nullptr)
      : driver(driver), account(account) {}
  /// Frees the slabs: in the session's CUDA context, once no kernel reads
  /// them (the session's streams are synchronized).
  ~TensorMapCache();
  TensorMapCache(const TensorMapCache &) = delete;
  TensorMapCache &operator=(const TensorMapCache &) = delete;

  /// The device copy of `map` in `device`: an earlier one with the same
  /// bytes, or a new one copied on `stream` (which `capturing` says is being
  /// captured into a graph). On failure, returns the driver's result with the
  /// failing call's text in `call`.
  CUresult find(const CUtensorMap &map, CUstream stream, bool capturing,
                CUdeviceptr &device, std::string &call);

  /// Maps held, and how many uploads `find` made (for tests and stats).
  size_t size() const;
  size_t uploads() const;

private:
  struct Slab {
    CUdeviceptr device = 0;
    /// Page-locked (or, where the driver cannot, heap) copies of the maps:
    /// the source of their uploads, alive as long as the device copies.
    CUtensorMap *host = nullptr;
    bool pinned = false;
  };
  /// A slab with room for the next map, after starting over or growing.
  CUresult makeRoom(CUstream stream, bool capturing, std::string &call);
  /// Frees a slab's device memory and stops counting it.
  void freeDevice(CUdeviceptr device);

  const CudaDriver *driver;
  MemoryAccount *account;
  mutable std::mutex mutex;
  std::vector<Slab> slabs;
  /// Slots taken, over all slabs in order: the next map goes into slot
  /// `used % kMapsPerSlab` of slab `used / kMapsPerSlab`.
  size_t used = 0, uploadCount = 0;
  /// Whether a map was handed out while its stream was being captured.
  bool captured = false;
  std::unordered_map<std::string, CUdeviceptr> byBytes;
};

} // namespace moert::cuda

#endif // MOERT_CUDA_TENSORMAPCACHE_H
