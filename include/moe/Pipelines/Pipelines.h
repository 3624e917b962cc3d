//===- Pipelines.h - named compilation pipelines ----------------*- C++ -*-===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
namespace moe {

/// Options of the CPU pipeline. The defaults are what bundles need.
struct CPUPipelineOptions {
  /// Lower to the LLVM dialect. When false the pipeline stops at bufferized
  /// loops (scf, memref, arith, math), for hosts that lower on their own.
  bool lowerToLLVM = true;
  /// Give every public function a C interface (`_mlir_ciface_<name>`), the
  /// entry points the runtime calls.
  bool emitCInterfaces = true;
  /// Lower moe ops with the GPU path's data-parallel forms
  /// (convert-moe-to-parallel-linalg) instead of convert-moe-to-linalg: runs
  /// the GPU path's tensor-level numerics on the CPU, for tests.
  bool parallelForms = false;
  /// With `parallelForms`: emit the tensor-core forms too
  /// (convert-moe-to-parallel-linalg{tensor-cores}: moe.grouped_matmul for
  /// the expert FFNs and router logits that fit the GPU kernel) and compute
  /// them on the CPU (convert-grouped-matmul-to-linalg), so that their
  /// numerics are tested without a GPU. Ignored without `parallelForms`.
  bool tensorCores = false;
};

/// The CPU pipeline (`moe-cpu-pipeline`): moe ops -> linalg/tensor/scf ->
/// bufferized loops -> LLVM dialect. Every public function gets a C interface
/// (`_mlir_ciface_<name>`, memref descriptors by pointer) for the runtime.
void buildCPUPipeline(OpPassManager &pm,
                      const CPUPipelineOptions &options = {});

/// Options of the CUDA pipeline. The defaults are what bundles for Hopper
/// (H100/H200) need.
struct CUDAPipelineOptions {
  /// The GPU architecture the kernels are compiled for (ptxas -arch).
  std::string chip = "sm_90a";
  /// PTX features (the PTX ISA version).
  std::string features = "+ptx80";
  /// Optimisation level of the device code (0-3).
  unsigned optLevel = 3;
  /// Threads per block of the parallel-loop kernels.
  int64_t blockSize = 256;
  /// CUDA toolkit root (bin/ptxas, nvvm/libdevice). Empty: $CUDA_HOME,
  /// $CUDA_PATH, $CUDA_ROOT, else /usr/local/cuda.
  std::string toolkitPath;
  /// Lower to the LLVM dialect with the device code compiled to a fatbin
  /// (needs ptxas). When false the pipeline stops at gpu.launch kernels in
  /// host functions (scf, memref, gpu), which lit tests check.
  bool lowerToLLVM = true;
  /// Expert FFNs that fit it run on the tensor-core grouped GEMM kernel
  /// (convert-moe-to-gpu); false keeps the per-element kernels everywhere.
  bool tensorCores = true;
  /// Streaming multiprocessors of the target: the most blocks of the
  /// tensor-core kernels' persistent grids (132: H100 SXM, H200).
  int64_t multiprocessors = 132;
  /// Routers (scoring + top-k) run as one-warp-per-token kernels
  /// (convert-moe-router-to-gpu); false keeps their one-thread-per-token
  /// loop form.
  bool warpRouter = true;
  /// Routers whose logits GEMM feeds only them run with it as one
  /// tensor-core kernel (moe.fused_router; needs warpRouter and
  /// tensorCores); false keeps the GEMM kernel and the router's apart.
  bool fusedRouter = true;
  /// Combines run as kernels of 16-byte row accesses
  /// (convert-moe-combine-to-gpu); false keeps their element-per-thread
  /// parallel form.
  bool vectorCombine = true;
};

/// The CUDA pipeline (`moe-cuda-pipeline`): moe ops -> data-parallel
/// linalg/scf -> bufferized loops -> gpu.launch kernels with device buffers
/// -> NVVM -> cubin (fatbin) embedded in host code that calls the runtime's
/// mgpu* ABI; every public function gets a C interface.
void buildCUDAPipeline(OpPassManager &pm,
                       const CUDAPipelineOptions &options = {});

/// The CUDA toolkit the pipeline uses (CUDAPipelineOptions::toolkitPath).
std::string cudaToolkitPath(const CUDAPipelineOptions &options);

/// Registers `moe-cuda-pipeline` (part of registerPipelines).
void registerCUDAPipeline();

/// Registers the named pipelines with the global pass registry.
void registerPipelines();

} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
