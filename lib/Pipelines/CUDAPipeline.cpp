//===- CUDAPipeline.cpp - moe-cuda-pipeline -------------------------------===//
//
// moe.router -> warp-per-token kernels (convert-moe-router-to-gpu) ->
// other moe ops -> data-parallel linalg/scf (convert-moe-to-parallel-linalg) ->
// buffers (the CPU path's bufferization steps) -> parallel loops ->
// gpu.launch kernels and device buffers (moe-map-loops-to-gpu) -> outlined
// kernels, one stream per call (gpu-async-region) -> upstream's NVVM
// pipeline: kernels to NVVM and a fatbin by ptxas, host code to LLVM calling
// mgpu* (implemented by the runtime, runtime/src/cuda).
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "PipelineSteps.h"
#include "moe/Conversion/Passes.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include <cstdlib>

using namespace mlir;

std::string mlir::moe::cudaToolkitPath(const CUDAPipelineOptions &options) {
  if (!options.toolkitPath.empty())
    return options.toolkitPath;
  for (const char *name : {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"})
    if (const char *value = std::getenv(name); value && *value)
      return value;
  return "/usr/local/cuda";
}

void mlir::moe::buildCUDAPipeline(OpPassManager &pm,
                                  const CUDAPipelineOptions &options) {
  MoEDecomposeOptions decompose;
  decompose.expandChains = true;
  pm.addPass(createMoEDecompose(decompose));
  pm.addPass(createCanonicalizerPass());
  // Routers and combines first: their kernels replace the forms the next
  // pass would give them.
  if (options.warpRouter) {
    // The fused router kernel is a tensor-core GEMM with warp routing.
    ConvertMoERouterToGPUOptions routers;
    routers.fuseLogits = options.fusedRouter && options.tensorCores;
    // Two tokens for each of the fused kernel's consumer warps (8 a block,
    // one block an SM).
    routers.fuseMaxTokens = 16 * options.multiprocessors;
    pm.addNestedPass<func::FuncOp>(createConvertMoERouterToGPU(routers));
  }
  if (options.vectorCombine)
    pm.addNestedPass<func::FuncOp>(createConvertMoECombineToGPU());
  ConvertMoEToParallelLinalgOptions forms;
  forms.tensorCores = options.tensorCores;
  pm.addPass(createConvertMoEToParallelLinalg(forms));
  // Sharded modules (moe-shard): collectives become moert_comm_* calls on the
  // buffers bufferization assigns; moe-map-loops-to-gpu makes those device
  // buffers, so the runtime receives device pointers (NCCL on the run's
  // stream). Prefetched weights (moe-plan-tiers) are given back to the
  // runtime, which owns them, after their layer: this path bufferizes without
  // ownership-based deallocation.
  ConvertMoEFlowToRuntimeOptions runtimeCalls;
  runtimeCalls.releasePrefetched = true;
  pm.addPass(createConvertMoEFlowToRuntime(runtimeCalls));
  addBufferizationSteps(pm, /*deallocate=*/false);

  // Parallel loops, then kernels.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createCanonicalizerPass());
  // Tensor-core kernels of the grouped GEMMs. After the last canonicalization
  // of the function body: the folder would hoist the kernels' constants
  // (their zero accumulators among them) out of gpu.launch, and outlining
  // sinks back only arith constants.
  ConvertMoEToGPUOptions kernels;
  kernels.multiprocessors = options.multiprocessors;
  pm.addNestedPass<func::FuncOp>(createConvertMoEToGPU(kernels));
  MoEMapLoopsToGPUOptions mapping;
  mapping.blockSize = options.blockSize;
  mapping.multiprocessors = options.multiprocessors;
  pm.addPass(createMoEMapLoopsToGPU(mapping));
  if (!options.lowerToLLVM) {
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    pm.addPass(createEmitCInterfacesPass());
    return;
  }

  // What upstream's gpu-lower-to-nvvm-pipeline does, with the CUDA toolkit
  // given explicitly (ptxas and libdevice must be found without relying on
  // the environment of whoever runs the compiler). nvgpu goes to NVVM before
  // outlining, as upstream does, so TMA descriptors cross into kernels as
  // pointers.
  pm.addPass(createConvertNVGPUToNVVMPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createEmitCInterfacesPass());
  // One stream per call: every launch, allocation and copy is ordered on it.
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  // ... except before runtime calls that are stream-ordered themselves.
  pm.addNestedPass<func::FuncOp>(createMoEElideStreamSyncs());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertNVVMToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Kernels: NVVM.
  pm.addNestedPass<gpu::GPUModuleOp>(createStripDebugInfoPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps());
  pm.addNestedPass<gpu::GPUModuleOp>(LLVM::createNVVMOptimizeForTargetPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());

  // Host: mgpu* calls; kernels: a fatbin by ptxas.
  pm.addPass(createGpuToLLVMConversionPass());
  GpuModuleToBinaryPassOptions binary;
  binary.toolkitPath = cudaToolkitPath(options);
  binary.compilationTarget = "fatbin";
  pm.addPass(createGpuModuleToBinaryPass(binary));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

namespace {
/// The textual form of CUDAPipelineOptions:
/// `moe-cuda-pipeline{chip=sm_90a features=+ptx80 opt-level=3 block-size=256
/// toolkit=/usr/local/cuda lower-to-llvm=true}`.
struct CUDAPipelineTextOptions
    : PassPipelineOptions<CUDAPipelineTextOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture (ptxas -arch)"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX features"),
                               llvm::cl::init("+ptx80")};
  Option<unsigned> optLevel{*this, "opt-level",
                            llvm::cl::desc("Device code optimisation level"),
                            llvm::cl::init(3)};
  Option<int64_t> blockSize{
      *this, "block-size",
      llvm::cl::desc("Threads per block of the parallel-loop kernels"),
      llvm::cl::init(256)};
  Option<std::string> toolkitPath{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit root with bin/ptxas and "
                     "nvvm/libdevice (default: $CUDA_HOME, $CUDA_PATH, "
                     "$CUDA_ROOT, else /usr/local/cuda)"),
      llvm::cl::init("")};
  Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("Run expert FFNs that fit it on the tensor-core grouped "
                     "GEMM kernel (false: per-element kernels only)"),
      llvm::cl::init(true)};
  Option<int64_t> multiprocessors{
      *this, "multiprocessors",
      llvm::cl::desc("Streaming multiprocessors of the target: blocks of the "
                     "tensor-core kernels' persistent grids at most"),
      llvm::cl::init(132)};
  Option<bool> warpRouter{
      *this, "warp-router",
      llvm::cl::desc("Run routers (scoring and top-k) as one-warp-per-token "
                     "kernels (false: one thread per token)"),
      llvm::cl::init(true)};
  Option<bool> fusedRouter{
      *this, "fused-router",
      llvm::cl::desc("Run routers with their logits GEMM as one tensor-core "
                     "kernel where it applies (needs warp-router and "
                     "tensor-cores; false: a GEMM kernel, then the router's)"),
      llvm::cl::init(true)};
  Option<bool> vectorCombine{
      *this, "vector-combine",
      llvm::cl::desc("Run combines as kernels of 16-byte row accesses "
                     "(false: one element per thread)"),
      llvm::cl::init(true)};
  Option<bool> lowerToLLVM{
      *this, "lower-to-llvm",
      llvm::cl::desc("Lower to the LLVM dialect with a fatbin (false: stop at "
                     "gpu.launch kernels)"),
      llvm::cl::init(true)};
};
} // namespace

void mlir::moe::registerCUDAPipeline() {
  PassPipelineRegistration<CUDAPipelineTextOptions>(
      "moe-cuda-pipeline",
      "Lowers moe ops to gpu.launch kernels, NVVM and a fatbin embedded in "
      "host code that calls the runtime's mgpu* ABI, with C interfaces",
      [](OpPassManager &pm, const CUDAPipelineTextOptions &text) {
        CUDAPipelineOptions options;
        options.chip = text.chip;
        options.features = text.features;
        options.optLevel = text.optLevel;
        options.blockSize = text.blockSize;
        options.lowerToLLVM = text.lowerToLLVM;
        options.tensorCores = text.tensorCores;
        options.multiprocessors = text.multiprocessors;
        options.warpRouter = text.warpRouter;
        options.fusedRouter = text.fusedRouter;
        options.vectorCombine = text.vectorCombine;
        options.toolkitPath = text.toolkitPath;
        buildCUDAPipeline(pm, options);
      });
}
