//===- CallContext.h - what the mgpu ABI works with -------------*- C++ -*-===//
//
// The `mgpu*` functions (MgpuAbi.cpp) take no session argument: the CUDA
// backend sets a CallContext on the calling thread around loading a bundle's
// kernels and around each run (DeviceScope, which also makes the session's
// CUDA context current), and the functions find the driver, the stream and
// where to record a failure there. They return void or a pointer, so the first
// failing driver call is recorded in the context (with its arguments and the
// driver's error) and read back by the backend once the kernel returns.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_CALLCONTEXT_H
#define MOERT_CUDA_CALLCONTEXT_H

#include "CudaDriver.h"

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace moert::tier {
class TierCache;
} // namespace moert::tier

namespace moert::cuda {

class TensorMapCache;

/// The kernel names of a session's modules (mgpuModuleGetFunction), so that
/// a failing launch names its kernel.
class KernelNames {
public:
  void set(CUfunction function, const char *name);
  /// The name, or "kernel 0x..." for a function never looked up.
  std::string get(CUfunction function) const;

private:
  mutable std::mutex mutex;
  std::unordered_map<CUfunction, std::string> names;
};

/// The device memory a session's runs hold (every allocation of the
/// backend, mgpuMemAlloc's included, goes through CallContext::allocate), and
/// the session's cap on it (moert_session_set_device_memory_limit).
class MemoryAccount {
public:
  /// 0: no cap.
  void setLimit(uint64_t bytes);
  /// Whether `bytes` more fit under the cap; if so, counts them as held.
  bool reserve(uint64_t bytes);
  /// Ties a reservation to its allocation, or returns it (pointer 0).
  void bind(CUdeviceptr pointer, uint64_t bytes);
  /// Stops counting `pointer`'s bytes.
  void release(CUdeviceptr pointer);
  /// Starts a run's peak at what is held now.
  void startRun();
  uint64_t peak() const;
  uint64_t limit() const;
  uint64_t held() const;
  /// "the session's device memory limit is N bytes, M held: ...": why an
  /// allocation the cap refused failed, for its error message.
  std::string describeLimit() const;

private:
  mutable std::mutex mutex;
  uint64_t cap = 0, live = 0, runPeak = 0;
  std::unordered_map<CUdeviceptr, uint64_t> sizes;
};

struct CallContext {
  const CudaDriver *driver = nullptr;
  CUcontext context = nullptr;
  /// The session's stream at the start of the run: what mgpuStreamCreate
  /// returns and a null stream argument means.
  CUstream stream = nullptr;
  int device = 0;
  /// Whether the device has stream-ordered allocation (cuMemAllocAsync).
  bool streamOrderedAllocation = true;
  /// The runtime's memory pool of the device (MemoryPool.h), which keeps
  /// freed memory mapped from run to run: stream-ordered allocations come
  /// from it. Null: from the device's current pool (cuMemAllocAsync).
  CUmemoryPool pool = nullptr;
  KernelNames *names = nullptr;
  /// The session's accounting of device memory; null: none.
  MemoryAccount *account = nullptr;
  /// The session's tier cache: an allocation refused for lack of memory (or
  /// by the limit) is retried after evicting its least recently used
  /// unpinned entry, as long as there is one. Null: none (and while the
  /// stream is being captured).
  tier::TierCache *tierCache = nullptr;
  /// The session's tensor maps in device memory (TensorMapCache.h).
  TensorMapCache *tensorMaps = nullptr;

  /// The first failure ("cuLaunchKernel(k, grid 1x1x1, ...): CUDA_ERROR_...");
  /// empty while there is none.
  std::string failure;
  /// The kernel launched last, named in failures found by later
  /// synchronizations (asynchronous faults); null before the first launch.
  CUfunction lastLaunch = nullptr;

  bool failed() const { return !failure.empty(); }
  /// The name mgpuModuleGetFunction gave `function`.
  std::string kernelName(CUfunction function) const;
  /// " (after launching add_kernel)", or "" before the first launch.
  std::string afterLastLaunch() const;
  /// Records `call` failing with `result` unless a failure is recorded
  /// already; returns whether `result` is success.
  bool check(CUresult result, const std::string &call);
  /// As check, with the call's text made only on failure.
  template <typename Call> bool checkLazy(CUresult result, Call call) {
    return result == CUDA_SUCCESS || check(result, call());
  }
  void fail(const std::string &message) {
    if (failure.empty())
      failure = message;
  }

  /// Stream-ordered allocation of `bytes` (> 0) on `stream`, from `pool`
  /// where there is one, or a plain one where the device has no memory pools.
  CUresult allocate(CUdeviceptr &pointer, size_t bytes, CUstream stream) const;
  /// Frees an allocation of `allocate`: stream-ordered on `stream` (into the
  /// pool it came from), or plainly.
  CUresult release(CUdeviceptr pointer, CUstream stream) const;
  /// The driver call `allocate` makes, for messages.
  const char *allocateName() const {
    return !streamOrderedAllocation ? "cuMemAlloc"
           : pool                   ? "cuMemAllocFromPoolAsync"
                                    : "cuMemAllocAsync";
  }
  /// The driver call `release` makes, for messages.
  const char *releaseName() const {
    return streamOrderedAllocation ? "cuMemFreeAsync" : "cuMemFree";
  }
  /// The driver's description of `result`, naming the session's device
  /// memory limit when that is what refused the last allocation.
  std::string describeAllocationFailure(CUresult result) const;
  /// Whether the last allocation was refused by the memory limit.
  mutable bool refusedByLimit = false;
  /// Whether `stream` is being captured into a CUDA graph (where it may not
  /// be synchronized).
  bool capturing(CUstream stream) const;
};

/// The context of the calling thread; null outside a DeviceScope.
CallContext *currentCallContext();

/// Makes `context` the calling thread's CallContext and its CUDA context
/// current for the scope's life (nesting restores the previous ones). A
/// failure to make it current is recorded in `context`.
class DeviceScope {
public:
  explicit DeviceScope(CallContext &context);
  ~DeviceScope();
  DeviceScope(const DeviceScope &) = delete;
  DeviceScope &operator=(const DeviceScope &) = delete;

private:
  CallContext &context;
  CallContext *previous;
  bool pushed = false;
};

} // namespace moert::cuda

#endif // MOERT_CUDA_CALLCONTEXT_H
