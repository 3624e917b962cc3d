//===- Executor.h - run a bundle program ------------------------*- C++ -*-===//
//
// Runs the flat command list of one function: allocates buffers, binds
// inputs, calls `_mlir_ciface_*` kernels with memref descriptors of any rank,
// copies outputs out and frees every allocation, the kernels' included. Where
// the buffers live and how data moves is the backend's RunMemory: host memory
// for the CPU, device memory for CUDA (runtime/src/cuda).
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_EXECUTOR_H
#define MOERT_CORE_EXECUTOR_H

#include "Bundle.h"
#include "moert/moert.h"

#include <string>
#include <vector>

namespace moert {

/// Caller memory of an input or output, already checked against the manifest:
/// host memory, or device memory of the session's device when `device`.
struct TensorData {
  void *data = nullptr;
  size_t byteSize = 0;
  bool device = false;
};

/// The memory of one run on one backend. Each call returns MOERT_OK or a
/// failure code with a one-line reason in `error`.
class RunMemory {
public:
  virtual ~RunMemory() = default;
  /// Memory for a buffer of `bytes` (null is valid only for 0 bytes).
  virtual moert_status_code_t allocate(size_t bytes, void *&memory,
                                       std::string &error) = 0;
  /// Frees a runtime allocation or a kernel's result allocation.
  virtual void free(void *allocation) = 0;
  /// Memory for a host-tier buffer ("tier": "host"): host memory that the
  /// kernels copy up themselves (moert_tier_fetch_*). CPU: the heap, as
  /// allocate; CUDA: page-locked, so that the copies are DMA that overlap the
  /// kernels.
  virtual moert_status_code_t allocateHost(size_t bytes, void *&memory,
                                           std::string &error) {
    return allocate(bytes, memory, error);
  }
  virtual void freeHost(void *allocation) { free(allocation); }
  /// bind_input into a host-tier buffer: whether `input` itself serves
  /// (CPU: any host input; CUDA: never, its memory is not page-locked).
  virtual bool usesInPlaceOnHost(const TensorData &input) const {
    return !input.device;
  }
  /// bind_input into a host-tier buffer not used in place: copies `input`
  /// (host or device memory) into the host buffer `buffer`.
  virtual moert_status_code_t copyInputToHost(void *buffer,
                                              const TensorData &input,
                                              std::string &error) = 0;
  /// Whether `input` itself serves as its buffer (bind_input without a copy).
  virtual bool usesInPlace(const TensorData &input) const = 0;
  /// bind_input of an input not used in place: copies it into `buffer`.
  virtual moert_status_code_t copyInput(void *buffer, const TensorData &input,
                                        std::string &error) = 0;
  virtual moert_status_code_t copyOutput(const TensorData &output,
                                         const void *buffer,
                                         std::string &error) = 0;
  /// Copies the strided view at `base` (strides in elements) into the dense
  /// row-major buffer `dense` of `type`.
  virtual moert_status_code_t copyStrided(const void *base,
                                          const TensorType &type,
                                          const int64_t *strides, void *dense,
                                          std::string &error) = 0;
  /// Before each kernel call (CUDA: where a timed run starts its clock, so
  /// that input copies stay out of the layer's time).
  virtual void beforeCall(const Kernel &kernel) {}
  /// After each kernel call: whether it succeeded (CUDA: no failing driver
  /// call inside it).
  virtual moert_status_code_t afterCall(const Kernel &kernel,
                                        std::string &error) = 0;
};

/// Host memory: the CPU backend's RunMemory.
RunMemory &hostMemory();

/// Runs `program` of `bundle` with kernel entry points `entries`
/// (entries[k] is bundle.kernels[k]) in `memory`. Returns false with `error`
/// on failure, and, when `code` is given, the status code there
/// (MOERT_ERROR_OUT_OF_MEMORY when a buffer could not be allocated,
/// MOERT_ERROR_INTERNAL otherwise unless `memory` says); all memory is
/// released either way.
bool runProgram(const Bundle &bundle, const Program &program,
                const std::vector<void *> &entries,
                const std::vector<TensorData> &inputs,
                const std::vector<TensorData> &outputs, RunMemory &memory,
                std::string &error, moert_status_code_t *code = nullptr);

/// Fault injection, for tests only (test/Runtime/faults, FaultTest.cpp):
/// makes the `failAt`-th buffer allocation of the runtime from now on fail as
/// if memory were exhausted (1-based, counted over every run of the process,
/// on every backend; one failure, later allocations succeed); 0 turns it off.
/// Without a call, the environment variable MOERT_FAULT_ALLOC_FAIL_AT=N sets
/// it at the first allocation; unset, empty or not a positive integer, it is
/// off.
void setAllocationFault(uint64_t failAt);

} // namespace moert

#endif // MOERT_CORE_EXECUTOR_H
