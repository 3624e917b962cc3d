//===- Executor.h - run a bundle program on the CPU -------------*- C++ -*-===//
//
// Runs the flat command list of one function: allocates buffers, copies
// inputs in, calls `_mlir_ciface_*` kernels with memref descriptors of any
// rank, copies outputs out and frees every allocation, the kernels' included.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_EXECUTOR_H
#define MOERT_CORE_EXECUTOR_H

#include "Bundle.h"
#include "moert/moert.h"

#include <string>
#include <vector>

namespace moert {

/// Host memory of an input or output, already checked against the manifest.
struct HostBuffer {
  void *data = nullptr;
  size_t byteSize = 0;
};

/// Runs `program` of `bundle` with kernel entry points `entries`
/// (entries[k] is bundle.kernels[k]). Returns false with `error` on failure,
/// and, when `code` is given, the status code there
/// (MOERT_ERROR_OUT_OF_MEMORY when a buffer could not be allocated,
/// MOERT_ERROR_INTERNAL otherwise); all memory is released either way.
bool runProgram(const Bundle &bundle, const Program &program,
                const std::vector<void *> &entries,
                const std::vector<HostBuffer> &inputs,
                const std::vector<HostBuffer> &outputs, std::string &error,
                moert_status_code_t *code = nullptr);

/// Fault injection, for tests only (test/Runtime/faults, FaultTest.cpp):
/// makes the `failAt`-th buffer allocation of the runtime from now on fail as
/// if memory were exhausted (1-based, counted over every run of the process;
/// one failure, later allocations succeed); 0 turns it off. Without a call,
/// the environment variable MOERT_FAULT_ALLOC_FAIL_AT=N sets it at the first
/// allocation; unset, empty or not a positive integer, it is off.
void setAllocationFault(uint64_t failAt);

} // namespace moert

#endif // MOERT_CORE_EXECUTOR_H
