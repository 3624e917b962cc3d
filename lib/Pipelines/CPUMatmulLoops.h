//===- CPUMatmulLoops.h - matmuls as vectorisable CPU loops -----*- C++ -*-===//

#ifndef MOE_LIB_PIPELINES_CPUMATMULLOOPS_H
#define MOE_LIB_PIPELINES_CPUMATMULLOOPS_H

#include <memory>

namespace mlir {
class Pass;
namespace moe {

/// Buffer-level linalg.matmul (plain or with B transposed) into loops whose
/// innermost dimension LLVM vectorises (see CPUMatmulLoops.cpp).
std::unique_ptr<Pass> createCPUMatmulLoopsPass();

/// Registers `--moe-cpu-matmul-loops` (for tests of the pipeline step).
void registerCPUMatmulLoopsPass();

} // namespace moe
} // namespace mlir

#endif // MOE_LIB_PIPELINES_CPUMATMULLOOPS_H
