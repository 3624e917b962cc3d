//===- HostTier.h - host-tier buffers of a CUDA session ---------*- C++ -*-===//
//
// Weights that a memory-tier plan keeps in host memory (docs/memory-tiers.md)
// live in page-locked memory, so that the copies up are DMA that run beside
// the kernels; page-locking gigabytes is slow, so a session keeps its blocks
// from run to run (PinnedPool). The copies themselves (StreamCopier) run on
// the session's copy stream, each ordered after the work already issued on
// the run's stream and waited for by the run's stream, without blocking the
// host.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_HOSTTIER_H
#define MOERT_CUDA_HOSTTIER_H

#include "CallContext.h"
#include "Tier.h"

#include <map>
#include <vector>

namespace moert::cuda {

/// Page-locked host blocks of one session, reused across its runs.
class PinnedPool {
public:
  explicit PinnedPool(const CudaDriver *driver) : driver(driver) {}
  ~PinnedPool();
  PinnedPool(const PinnedPool &) = delete;
  PinnedPool &operator=(const PinnedPool &) = delete;

  /// A block of `bytes` (> 0): a free one of that size, or a new one
  /// (cuMemAllocHost; the heap where the driver lacks it). Inside the
  /// session's DeviceScope.
  CUresult take(size_t bytes, void *&block);
  /// Gives `block` back for later runs.
  void give(void *block);

private:
  const CudaDriver *driver;
  std::mutex mutex;
  /// Every block: its size and whether the driver allocated it.
  std::map<void *, std::pair<size_t, bool>> blocks;
  std::multimap<size_t, void *> free;
};

/// moert_tier_fetch on a CUDA session.
class StreamCopier final : public tier::Copier {
public:
  /// `call`: the run's context (its stream); `copyStream`: the session's.
  StreamCopier(CallContext &call, CUstream copyStream)
      : call(call), copyStream(copyStream) {}
  /// Destroys the run's events (after the run's stream is synchronized).
  ~StreamCopier() override;

  bool start(const void *source, void *destination, size_t bytes,
             uint64_t &token, std::string &error) override;
  bool wait(uint64_t token, std::string &error) override;

private:
  bool check(CUresult result, const char *what, std::string &error) const;

  CallContext &call;
  CUstream copyStream;
  std::vector<CUevent> events;
};

/// Copies `bytes` host bytes with several threads (binding gigabytes of
/// host-tier weights into page-locked memory on every run).
void copyHostParallel(void *destination, const void *source, size_t bytes);

} // namespace moert::cuda

#endif // MOERT_CUDA_HOSTTIER_H
