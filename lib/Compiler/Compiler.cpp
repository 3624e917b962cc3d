//===- Compiler.cpp - the C++ API for hosts that embed the compiler -------===//

#include "moe/Compiler/Compiler.h"

#include "moe/InitAllDialects.h"
#include "moe/InitAllPasses.h"
#include "moe/Target/Bundle.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>

using namespace mlir;

void moe::registerDialects(DialectRegistry &registry) {
  // The CPU pipeline goes through linalg, tensor, bufferization, scf, memref,
  // math and the LLVM dialect; the external models that make it work
  // (bufferization, ConvertToLLVM) come with the upstream registrations.
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  // The CUDA pipeline serializes kernels (gpu-module-to-binary) and
  // translates gpu.binary / gpu.launch_func.
  registerAllGPUToLLVMIRTranslations(registry);
  moe::registerAllDialects(registry);
}

void moe::registerPasses() {
  static std::once_flag once;
  std::call_once(once, [] { moe::registerAllPasses(); });
}

FailureOr<std::string> moe::compileToBundle(ModuleOp module,
                                            const BundleOptions &options) {
  if (options.verify && failed(mlir::verify(module)))
    return failure();
  // The pipeline needs upstream interface models (bufferization,
  // ConvertToLLVM) and the kernels are translated to LLVM IR in this context:
  // a host that registered only the moe dialect still compiles.
  DialectRegistry required;
  registerDialects(required);
  module->getContext()->appendDialectRegistry(required);

  std::string bytes;
  llvm::raw_string_ostream os(bytes);
  if (failed(translateModuleToBundle(module, os, options.target)))
    return failure();
  os.flush();
  return bytes;
}
