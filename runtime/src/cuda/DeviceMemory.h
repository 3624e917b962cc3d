//===- DeviceMemory.h - a run's buffers in CUDA device memory ---*- C++ -*-===//
//
// The CUDA backend's RunMemory: buffers are stream-ordered device allocations
// on the session's stream (the allocator of mgpuMemAlloc, so kernel results
// are freed the same way), host inputs and outputs are copied on that stream,
// and caller device tensors are used in place (inputs) or copied into
// device-to-device (outputs).
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_DEVICEMEMORY_H
#define MOERT_CUDA_DEVICEMEMORY_H

#include "CallContext.h"
#include "Executor.h"
#include "HostTier.h"

#include <functional>
#include <unordered_set>

namespace moert::cuda {

class DeviceMemory final : public RunMemory {
public:
  /// Works in `context` (inside its DeviceScope); host-tier buffers come
  /// from the session's `pinned` blocks.
  DeviceMemory(CallContext &context, PinnedPool &pinned)
      : context(context), pinned(pinned) {}

  moert_status_code_t allocate(size_t bytes, void *&memory,
                               std::string &error) override;
  void free(void *allocation) override;
  bool usesInPlace(const TensorData &input) const override {
    return input.device;
  }
  moert_status_code_t copyInput(void *buffer, const TensorData &input,
                                std::string &error) override;
  moert_status_code_t allocateHost(size_t bytes, void *&memory,
                                   std::string &error) override;
  void freeHost(void *allocation) override;
  /// Caller memory is not page-locked: host-tier inputs are copied into
  /// pool blocks, except while the tier cache is on (mirrorHostTier): then
  /// a host input is used in place and noted in the mirrors, whose
  /// page-locked copies the fetches read.
  bool usesInPlaceOnHost(const TensorData &input) const override {
    if (!mirrors || input.device || !input.data || !input.byteSize)
      return false;
    mirrors->noteInput(input.data, input.byteSize);
    return true;
  }
  /// Host-tier inputs of this run go to `mirrors` (null: copied every run).
  void mirrorHostTier(HostMirrors *hostMirrors) { mirrors = hostMirrors; }
  moert_status_code_t copyInputToHost(void *buffer, const TensorData &input,
                                      std::string &error) override;
  moert_status_code_t copyOutput(const TensorData &output, const void *buffer,
                                 std::string &error) override;
  moert_status_code_t copyStrided(const void *base, const TensorType &type,
                                  const int64_t *strides, void *dense,
                                  std::string &error) override;
  /// Records the start event before the first call.
  void beforeCall(const Kernel &kernel) override;
  /// Records the end event and reports the first failing driver call of the
  /// kernel's host code.
  moert_status_code_t afterCall(const Kernel &kernel,
                                std::string &error) override;
  /// Events around the kernel calls of a timed run: `start` is recorded
  /// before the first call, `end` after each (the last one counts). Null:
  /// not timed.
  void timeCalls(CUevent start, CUevent end) {
    callStart = start;
    callEnd = end;
  }
  /// Whether both events were recorded.
  bool callsTimed() const { return startRecorded && endRecorded; }
  /// Runs `hook` once, before the first kernel call (and its start event):
  /// after the inputs are on the device.
  void beforeFirstCall(std::function<void()> hook) {
    firstCallHook = std::move(hook);
  }

private:
  /// MOERT_OK, or `failure` with "<call>: <driver error>" in `error`.
  moert_status_code_t check(CUresult result, const char *call,
                            std::string &error,
                            moert_status_code_t failure = MOERT_ERROR_INTERNAL);

  CallContext &context;
  PinnedPool &pinned;
  HostMirrors *mirrors = nullptr;
  /// Host-tier buffers on the heap (allocateHost while mirroring).
  std::unordered_set<void *> heapHost;
  CUevent callStart = nullptr, callEnd = nullptr;
  std::function<void()> firstCallHook;
  bool startRecorded = false, endRecorded = false;
};

} // namespace moert::cuda

#endif // MOERT_CUDA_DEVICEMEMORY_H
