//===- CPUPipeline.cpp - moe-cpu-pipeline ----------------------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "CPUMatmulLoops.h"
#include "moe/Conversion/Passes.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
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

namespace {
/// Rewrites memref.copy into linalg.copy, which becomes plain loops. The LLVM
/// lowering of a strided memref.copy calls `memrefCopy` from MLIR's runner
/// utilities; the kernels must not need MLIR libraries at run time.
struct CopiesToLoops : PassWrapper<CopiesToLoops, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(CopiesToLoops)
  StringRef getArgument() const final { return "moe-copies-to-loops"; }
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp copy) { copies.push_back(copy); });
    for (memref::CopyOp copy : copies) {
      OpBuilder builder(copy);
      linalg::CopyOp::create(builder, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    }
  }
};

/// Marks the arguments of public functions `bufferization.writable = false`:
/// bufferization then copies before it would write into one.
struct ReadOnlyArguments
    : PassWrapper<ReadOnlyArguments, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ReadOnlyArguments)
  StringRef getArgument() const final { return "moe-read-only-arguments"; }
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!func.isPublic() || func.isExternal())
        continue;
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        if (isa<TensorType>(func.getArgumentTypes()[i]))
          func.setArgAttr(i, bufferization::BufferizationDialect::kWritableAttrName,
                          BoolAttr::get(&getContext(), false));
    }
  }
};

/// Marks every public function for a C interface wrapper, so that the runtime
/// calls `_mlir_ciface_<name>` with memref descriptors.
struct EmitCInterfaces
    : PassWrapper<EmitCInterfaces, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(EmitCInterfaces)
  StringRef getArgument() const final { return "moe-emit-c-interfaces"; }
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func.isPublic() && !func.isExternal())
        func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                      UnitAttr::get(&getContext()));
  }
};
} // namespace

void mlir::moe::buildCPUPipeline(OpPassManager &pm,
                                 const CPUPipelineOptions &options) {
  // Whole layers and chains into their parts.
  MoEDecomposeOptions decompose;
  decompose.expandChains = true;
  pm.addPass(createMoEDecompose(decompose));
  pm.addPass(createCanonicalizerPass());
  // moe ops into linalg/tensor/scf.
  pm.addPass(createConvertMoEToLinalg());
  // Residual and shared-expert sums are elementwise arith on tensors.
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());

  // Tensors to buffers. Function boundaries use identity layouts so that the
  // C interface sees plain strided memrefs, and arguments are read-only: the
  // runtime passes the caller's inputs (weights) in place.
  pm.addPass(std::make_unique<ReadOnlyArguments>());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  bufferization::BufferDeallocationPipelineOptions deallocation;
  bufferization::buildBufferDeallocationPipeline(pm, deallocation);
  pm.addPass(createConvertBufferizationToMemRefPass());

  // Loops, then LLVM.
  pm.addPass(std::make_unique<CopiesToLoops>());
  pm.addPass(createCPUMatmulLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerAffinePass());
  if (!options.lowerToLLVM) {
    if (options.emitCInterfaces)
      pm.addPass(std::make_unique<EmitCInterfaces>());
    pm.addPass(createCanonicalizerPass());
    return;
  }
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // erf (GELU) has no LLVM intrinsic: call libm.
  pm.addPass(createConvertMathToLibmPass());
  if (options.emitCInterfaces)
    pm.addPass(std::make_unique<EmitCInterfaces>());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

namespace {
/// The textual form of CPUPipelineOptions:
/// `moe-cpu-pipeline{lower-to-llvm=false emit-c-interfaces=false}`.
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
};
} // namespace

void mlir::moe::registerPipelines() {
  registerCPUMatmulLoopsPass();
  PassPipelineRegistration<CPUPipelineTextOptions>(
      "moe-cpu-pipeline",
      "Lowers moe ops through linalg/scf and bufferization to the LLVM "
      "dialect, with C interfaces for the runtime",
      [](OpPassManager &pm, const CPUPipelineTextOptions &text) {
        CPUPipelineOptions options;
        options.lowerToLLVM = text.lowerToLLVM;
        options.emitCInterfaces = text.emitCInterfaces;
        buildCPUPipeline(pm, options);
      });
}
