//===- Backend.h - what a session runs on -----------------------*- C++ -*-===//
//
// A session's backend: a bundle's kernels loaded for one device, and the way
// its programs run there. The CPU backend (CpuBackend.cpp) calls the kernels
// on host memory; the CUDA backend (runtime/src/cuda) on device memory.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_BACKEND_H
#define MOERT_CORE_BACKEND_H

#include "Bundle.h"
#include "Executor.h"
#include "Tier.h"
#include "moert/moert.h"

#include <memory>
#include <string>
#include <vector>

namespace moert {

namespace comm {
class Communicator;
} // namespace comm

/// A failure: a status code and its one-line message.
struct Failure {
  moert_status_code_t code = MOERT_OK;
  std::string message;
};

/// What the last run of a session did besides computing (moert_run_stats_t).
struct RunStats {
  /// The run's fetches of host-tier buffers (moert_tier_fetch_*), expert
  /// fetches among them.
  tier::Stats tier;
  /// CUDA: the bytes the session's tier cache holds after the run.
  uint64_t tierCachedBytes = 0;
  /// CUDA: the most device memory the run's allocations held at once
  /// (runtime buffers, kernel allocations, scratch); 0 on the CPU.
  uint64_t peakDeviceBytes = 0;
};

class Backend {
public:
  virtual ~Backend() = default;

  const RunStats &lastRunStats() const { return lastRun; }

  virtual moert_device_t device() const = 0;
  /// The device's ordinal (0 on the CPU).
  virtual int deviceId() const { return 0; }

  /// Runs the program of `function` (already checked: inputs and outputs
  /// match the manifest and are memory this backend reads). When `time` is
  /// given, stores there how long the run took, in milliseconds (device time
  /// on CUDA; a negative value when it could not be measured).
  virtual bool run(const Bundle &bundle, size_t function,
                   const std::vector<TensorData> &inputs,
                   const std::vector<TensorData> &outputs, Failure &failure,
                   double *time = nullptr) = 0;

  /// Prepares the collectives of a multi-rank session (world size > 1):
  /// CUDA loads NCCL here, so that a missing library fails the session's
  /// creation. Runs then find their comm::RunContext on the calling thread.
  virtual bool prepareCollectives(comm::Communicator &communicator,
                                  Failure &failure) {
    (void)communicator;
    (void)failure;
    return true;
  }

  /// Caps the device memory a run may hold at once (0: no cap): an
  /// allocation past it fails as out of memory. CUDA only.
  virtual bool setDeviceMemoryLimit(uint64_t bytes, Failure &failure) {
    (void)bytes;
    failure = {MOERT_ERROR_UNSUPPORTED,
               "a device memory limit belongs to cuda sessions; this one runs "
               "on the cpu, whose kernels allocate host memory"};
    return false;
  }

  /// Keeps fetched host-tier buffers in device memory across runs, up to
  /// `bytes` (0: off, the default), least recently used evicted first
  /// (docs/memory-tiers.md §5). CUDA only.
  virtual bool setTierCache(uint64_t bytes, Failure &failure) {
    (void)bytes;
    failure = {MOERT_ERROR_UNSUPPORTED,
               "a tier cache belongs to cuda sessions; on the cpu host-tier "
               "buffers are host memory already"};
    return false;
  }
  /// Drops the tier cache's device buffers and the page-locked mirrors of
  /// host-tier inputs (CUDA only).
  virtual bool clearTierCache(Failure &failure) {
    failure = {MOERT_ERROR_UNSUPPORTED,
               "a tier cache belongs to cuda sessions; this one runs on the "
               "cpu"};
    return false;
  }

  /// Runs later work on the caller's stream (CUDA only).
  virtual bool setStream(void *stream, bool own, Failure &failure) {
    (void)stream;
    (void)own;
    failure = {MOERT_ERROR_UNSUPPORTED,
               "streams belong to cuda sessions; this one runs on the cpu"};
    return false;
  }

protected:
  RunStats lastRun;
};

/// Runs `body` (a backend's runProgram) with a tier::Run of `copier` current
/// on the calling thread (the run's moert_tier_fetch_* calls), then records
/// what it fetched in `stats`. A failed fetch is the cause of whatever
/// followed it, so its message replaces `body`'s failure.
template <typename Body>
bool runWithTierFetches(tier::Copier &copier, RunStats &stats,
                        Failure &failure, Body body) {
  tier::Run fetches(copier);
  bool ok;
  {
    tier::RunScope scope(fetches);
    ok = body();
  }
  // Releases what the kernels did not (after the run's last work is issued:
  // CUDA frees are ordered on the run's stream).
  std::string error;
  bool finished = fetches.finish(error);
  stats.tier = fetches.stats();
  if (!finished) {
    failure = {MOERT_ERROR_KERNEL, error};
    return false;
  }
  return ok;
}

/// Loads the kernels of a cpu-x86_64 bundle in this process.
std::unique_ptr<Backend> createCpuBackend(const Bundle &bundle,
                                          Failure &failure);

/// Opens CUDA device `deviceId` for a cuda-sm_* bundle: loads the driver,
/// checks the device's compute capability against the bundle's chip and its
/// free memory against the largest program, and loads the kernels and their
/// device code. Defined where the CUDA backend is built (MOERT_HAVE_CUDA).
std::unique_ptr<Backend> createCudaBackend(const Bundle &bundle, int deviceId,
                                           Failure &failure);

} // namespace moert

#endif // MOERT_CORE_BACKEND_H
