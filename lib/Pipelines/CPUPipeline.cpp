//===- CPUPipeline.cpp - moe-cpu-pipeline ----------------------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "CPUMatmulLoops.h"
#include "PipelineSteps.h"
#include "moe/Conversion/Passes.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::moe::buildCPUPipeline(OpPassManager &pm,
                                 const CPUPipelineOptions &options) {
  // Whole layers and chains into their parts.
  MoEDecomposeOptions decompose;
  decompose.expandChains = true;
  pm.addPass(createMoEDecompose(decompose));
  pm.addPass(createCanonicalizerPass());
  // moe ops into linalg/tensor/scf.
  if (options.parallelForms) {
    ConvertMoEToParallelLinalgOptions forms;
    forms.tensorCores = options.tensorCores;
    pm.addPass(createConvertMoEToParallelLinalg(forms));
    // The tensor-core forms' moe.grouped_matmul ops, computed by loops.
    if (options.tensorCores)
      pm.addPass(createConvertGroupedMatmulToLinalg());
  } else {
    pm.addPass(createConvertMoEToLinalg());
  }
  // Sharded modules (moe-shard): collectives become moert_comm_* calls on the
  // buffers one-shot bufferization is about to assign (a no-op without them).
  pm.addPass(createConvertMoEFlowToRuntime());
  addBufferizationSteps(pm, /*deallocate=*/true);

  // Loops, then LLVM.
  pm.addPass(createCPUMatmulLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerAffinePass());
  if (!options.lowerToLLVM) {
    if (options.emitCInterfaces)
      pm.addPass(createEmitCInterfacesPass());
    pm.addPass(createCanonicalizerPass());
    return;
  }
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // erf (GELU) has no LLVM intrinsic: call libm.
  pm.addPass(createConvertMathToLibmPass());
  // bf16 arithmetic in f32, and f32 -> bf16 as integer ops (round to
  // nearest even, NaN kept): without AVX512-BF16 (AMD Zen 3, say) LLVM's x86
  // backend makes each bf16 rounding a call of compiler-rt's __truncsfbf2,
  // which neither the kernels nor moe-run link.
  arith::ArithEmulateUnsupportedFloatsOptions emulate;
  emulate.sourceTypeStrs = {"bf16"};
  pm.addPass(arith::createArithEmulateUnsupportedFloats(emulate));
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  if (options.emitCInterfaces)
    pm.addPass(createEmitCInterfacesPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

namespace {
/// The textual form of CPUPipelineOptions:
/// `moe-cpu-pipeline{lower-to-llvm=false emit-c-interfaces=false
/// parallel-forms=true tensor-cores=true}`.
struct CPUPipelineTextOptions
    : PassPipelineOptions<CPUPipelineTextOptions> {
  Option<bool> lowerToLLVM{
      *this, "lower-to-llvm",
      llvm::cl::desc("Lower to the LLVM dialect (false: stop at bufferized "
                     "scf/memref loops)"),
      llvm::cl::init(true)};
  Option<bool> emitCInterfaces{
      *this, "emit-c-interfaces",
      llvm::cl::desc("Give every public function a C interface "
                     "(_mlir_ciface_<name>) for the runtime"),
      llvm::cl::init(true)};
  Option<bool> parallelForms{
      *this, "parallel-forms",
      llvm::cl::desc("Lower moe ops with the GPU path's data-parallel forms "
                     "(convert-moe-to-parallel-linalg), to test their numerics "
                     "on the CPU"),
      llvm::cl::init(false)};
  Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("With parallel-forms: emit the tensor-core forms "
                     "(moe.grouped_matmul) too and compute them with loops "
                     "(convert-grouped-matmul-to-linalg), to test their "
                     "numerics on the CPU"),
      llvm::cl::init(false)};
};
} // namespace

void mlir::moe::registerPipelines() {
  registerCPUMatmulLoopsPass();
  registerCUDAPipeline();
  PassPipelineRegistration<CPUPipelineTextOptions>(
      "moe-cpu-pipeline",
      "Lowers moe ops through linalg/scf and bufferization to the LLVM "
      "dialect, with C interfaces for the runtime",
      [](OpPassManager &pm, const CPUPipelineTextOptions &text) {
        CPUPipelineOptions options;
        options.lowerToLLVM = text.lowerToLLVM;
        options.emitCInterfaces = text.emitCInterfaces;
        options.parallelForms = text.parallelForms;
        options.tensorCores = text.tensorCores;
        buildCPUPipeline(pm, options);
      });
}
