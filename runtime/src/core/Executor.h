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

#include <string>
#include <vector>

namespace moert {

/// Host memory of an input or output, already checked against the manifest.
struct HostBuffer {
  void *data = nullptr;
  size_t byteSize = 0;
};

/// Runs `program` of `bundle` with kernel entry points `entries`
/// (entries[k] is bundle.kernels[k]). Returns false with `error` on failure;
/// all memory is released either way.
bool runProgram(const Bundle &bundle, const Program &program,
                const std::vector<void *> &entries,
                const std::vector<HostBuffer> &inputs,
                const std::vector<HostBuffer> &outputs, std::string &error);

} // namespace moert

#endif // MOERT_CORE_EXECUTOR_H
