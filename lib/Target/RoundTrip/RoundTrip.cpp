//===- RoundTrip.cpp - MLIR text round-trip translation -------------------===//
//
// The first moe-translate target: proves that a module prints and re-parses
// to the same text, in the custom and the generic form. Later targets (the
// artifact bundle) register beside it.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/RoundTrip.h"
#include "moe/InitAllDialects.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Tools/mlir-translate/Translation.h"

using namespace mlir;

/// Prints `module` with `flags` and parses the text back; fails with a
/// diagnostic on `module` if the re-parsed module prints differently.
static LogicalResult checkStablePrint(ModuleOp module,
                                      const OpPrintingFlags &flags,
                                      StringRef form, std::string &printed) {
  llvm::raw_string_ostream(printed) << OpWithFlags(module, flags);
  ParserConfig config(module.getContext());
  OwningOpRef<ModuleOp> reparsed =
      parseSourceString<ModuleOp>(printed, config, "round-trip");
  if (!reparsed)
    return module.emitError() << "the " << form
                              << " form of this module does not parse back";
  std::string reprinted;
  llvm::raw_string_ostream(reprinted) << OpWithFlags(*reparsed, flags);
  if (reprinted != printed)
    return module.emitError() << "the " << form
                              << " form of this module is not stable under "
                                 "print -> parse -> print";
  return success();
}

void mlir::moe::registerRoundTripTranslation() {
  TranslateFromMLIRRegistration registration(
      "mlir-roundtrip",
      "check that the module prints and re-parses to the same text, then "
      "print it",
      [](Operation *op, raw_ostream &output) -> LogicalResult {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError() << "expected a builtin.module";
        std::string custom, generic;
        if (failed(checkStablePrint(module, OpPrintingFlags(), "custom",
                                    custom)) ||
            failed(checkStablePrint(
                module, OpPrintingFlags().printGenericOpForm(), "generic",
                generic)))
          return failure();
        output << custom;
        return success();
      },
      [](DialectRegistry &registry) {
        mlir::registerAllDialects(registry);
        mlir::moe::registerAllDialects(registry);
      });
}
