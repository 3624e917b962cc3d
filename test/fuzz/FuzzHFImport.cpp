//===- FuzzHFImport.cpp - libFuzzer target: HF config.json importer -------===//
//
// Feeds the input to importHFConfig as a config.json; when it imports, the
// module must verify. The first input byte picks a few HFImportOptions
// overrides so that the option checks are exercised too.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/HFImport.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  moe::HFImportOptions options;
  // Options the first byte selects (the rest is the config): mostly none, so
  // plain configs dominate, sometimes small or absurd overrides.
  if (size > 1 && data[0] == '#') {
    uint8_t pick = data[1];
    data += 2;
    size -= 2;
    static const int64_t kValues[] = {0, 1, 2, 3, 4, 7, 8, -1, INT64_MAX};
    constexpr size_t kCount = sizeof(kValues) / sizeof(kValues[0]);
    options.tokens = kValues[pick % kCount];
    if (pick & 0x10)
      options.layer = kValues[(pick >> 1) % kCount];
    if (pick & 0x20)
      options.hiddenSize = kValues[(pick >> 2) % kCount];
    if (pick & 0x40)
      options.numExperts = kValues[(pick >> 3) % kCount];
    if (pick & 0x80)
      options.intermediateSize = kValues[(pick >> 4) % kCount];
    static const char *const kDTypes[] = {"f32", "bf16", "f16", "i8"};
    if ((pick & 3) == 3)
      options.dtype = kDTypes[(pick >> 5) % 4];
  }

  MLIRContext context(MLIRContext::Threading::DISABLED);
  context.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler handler(&context,
                                  [](Diagnostic &) { return success(); });
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "config.json"),
      llvm::SMLoc());
  OwningOpRef<ModuleOp> module =
      moe::importHFConfig(sourceMgr, &context, options);
  if (module && failed(verify(*module))) {
    std::fprintf(stderr, "moe-fuzz-hf-import: imported a module that does "
                         "not verify\n");
    std::abort();
  }
  return 0;
}
