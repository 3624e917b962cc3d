//===- FuzzIR.cpp - libFuzzer target: moe IR parser, verifier, passes -----===//
//
// Parses the input as an MLIR module with the moe, func, arith, tensor and
// linalg dialects, verifies it, and on verified input runs moe-decompose
// (without and with expand-chains) followed by canonicalize. Diagnostics are
// expected and swallowed; a crash, a sanitizer report, or a pass that turns
// valid IR into invalid IR without reporting a failure is a bug.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEDialect.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace mlir;

static const DialectRegistry &getRegistry() {
  static const DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    r->insert<moe::MoEDialect, func::FuncDialect, arith::ArithDialect,
              tensor::TensorDialect, linalg::LinalgDialect>();
    return r;
  }();
  return *registry;
}

/// Runs moe-decompose{expand-chains} and canonicalize on `module`. When the
/// passes succeed, the result must verify.
static void runPasses(ModuleOp module, bool expandChains) {
  PassManager pm(module->getContext());
  // Verify once at the end ourselves, to tell "a pass failed" (fine: it
  // reported why) from "a pass produced invalid IR" (a bug).
  pm.enableVerifier(false);
  moe::MoEDecomposeOptions options;
  options.expandChains = expandChains;
  pm.addPass(moe::createMoEDecompose(options));
  pm.addPass(createCanonicalizerPass());
  if (failed(pm.run(module)))
    return;
  if (failed(verify(module))) {
    std::fprintf(stderr, "moe-fuzz-ir: moe-decompose%s + canonicalize turned "
                         "valid IR into invalid IR\n",
                 expandChains ? "{expand-chains}" : "");
    std::abort();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext context(getRegistry(), MLIRContext::Threading::DISABLED);
  context.printOpOnDiagnostic(false);
  context.printStackTraceOnDiagnostic(false);
  // Swallow diagnostics: bad input is expected and reporting is not the test.
  ScopedDiagnosticHandler handler(&context,
                                  [](Diagnostic &) { return success(); });

  // The MLIR lexer relies on the NUL after the buffer that MemoryBuffer
  // guarantees (as for every file moe-opt reads): parse from a copy.
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "fuzz-input"),
      llvm::SMLoc());
  ParserConfig config(&context, /*verifyAfterParse=*/false);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, config);
  if (!module || failed(verify(*module)))
    return 0;

  OwningOpRef<ModuleOp> copy = cast<ModuleOp>((*module)->clone());
  runPasses(*module, /*expandChains=*/false);
  runPasses(*copy, /*expandChains=*/true);
  return 0;
}
