//===- Compositions.h - compositions a bundle's runtime serves --*- C++ -*-===//
//
// A public function that is a moe.composition is not compiled into a kernel:
// the runtime serves it (bundle_format.h "composition", docs/composition.md),
// running the chosen model's own compiled function per request. The bundle
// writer therefore compiles the models as bundle functions of their own and
// records, for the composition, which of its inputs each model takes.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_TARGET_BUNDLE_COMPOSITIONS_H
#define MOE_LIB_TARGET_BUNDLE_COMPOSITIONS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <string>

namespace mlir::moe {

/// A composition function of the module as written.
struct CompositionSpec {
  /// The function (in the module as written: its signature and reference
  /// program come from there).
  func::FuncOp function;
  /// The manifest's "composition" object: selector, requests and per model
  /// its function and the composition inputs it takes.
  llvm::json::Object manifest;
};

/// Finds the public functions of `module` that are compositions and prepares
/// `compiled` (a clone of `module` that the bundle writer compiles) for
/// serving them: each model becomes a public function of its own, the
/// composition functions are erased, and under `weights_tier =
/// #moe.tier<host>` every moe.layer of the models that names no tier of its
/// own streams its weights from host memory (`hostTier` is then set: the
/// caller runs moe-plan-tiers). A composition function must only pass its
/// arguments to the composition and return its result; anything else is a
/// located error.
FailureOr<SmallVector<CompositionSpec>>
prepareCompositions(ModuleOp module, ModuleOp compiled, bool &hostTier);

} // namespace mlir::moe

#endif // MOE_LIB_TARGET_BUNDLE_COMPOSITIONS_H
