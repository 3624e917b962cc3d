//===- Compositions.cpp - compositions a bundle's runtime serves ----------===//

#include "Compositions.h"

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"

#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::moe;
namespace json = llvm::json;

/// The argument number of `value`, an argument of the composition's function
/// (the composition is its only op, so every operand is one).
static int64_t argumentNumber(Value value) {
  return cast<BlockArgument>(value).getArgNumber();
}

/// The manifest entry of composition `op`, the only op of `function` but its
/// return.
static FailureOr<json::Object> describe(CompositionOp op, func::FuncOp function,
                                        SymbolTableCollection &symbols,
                                        SmallVectorImpl<func::FuncOp> &models) {
  Block &body = function.getBody().front();
  auto terminator = dyn_cast<func::ReturnOp>(body.getTerminator());
  if (body.getOperations().size() != 2 || !terminator ||
      terminator.getNumOperands() != 1 ||
      terminator.getOperand(0) != op.getResult())
    return op.emitError()
               << "a composition in a bundle must be the only op of its "
                  "function '"
               << function.getSymName()
               << "' and its result the function's result: the runtime "
                  "serves it, running the chosen model's compiled function "
                  "per request",
           failure();
  // Each model with its weights operands (the op's verifier checked their
  // count and types against the models).
  FailureOr<SmallVector<CompositionOp::Model>> resolved =
      op.resolveModels(&symbols);
  if (failed(resolved))
    return op.emitError() << "the models of a composition in a bundle must "
                             "resolve to func.funcs",
           failure();
  json::Array entries;
  for (auto [attr, model] : llvm::zip(op.getModels(), *resolved)) {
    if (model.func.isExternal())
      return op.emitError() << "model " << attr
                            << " of a composition in a bundle must be a "
                               "func.func with a body",
             failure();
    json::Array inputs{argumentNumber(op.getInputs())};
    for (Value weight : model.weights)
      inputs.push_back(argumentNumber(weight));
    entries.push_back(json::Object{{"function", model.func.getSymName().str()},
                                   {"inputs", std::move(inputs)}});
    models.push_back(model.func);
  }
  return json::Object{{"selector", argumentNumber(op.getSelector())},
                      {"requests", argumentNumber(op.getInputs())},
                      {"models", std::move(entries)}};
}

FailureOr<SmallVector<CompositionSpec>>
mlir::moe::prepareCompositions(ModuleOp module, ModuleOp compiled,
                               bool &hostTier) {
  hostTier = false;
  SmallVector<CompositionSpec> specs;
  SymbolTableCollection symbols;
  for (auto function : module.getOps<func::FuncOp>()) {
    if (!function.isPublic() || function.isExternal())
      continue;
    SmallVector<CompositionOp> ops(function.getOps<CompositionOp>());
    if (ops.empty())
      continue;
    SmallVector<func::FuncOp> models;
    FailureOr<json::Object> manifest =
        describe(ops.front(), function, symbols, models);
    if (failed(manifest))
      return failure();
    TierAttr tier = ops.front().getWeightsTierAttr();
    bool host = tier && tier.getTier() == MemoryTier::host;
    // The compiled clone: models public, the composition gone.
    for (func::FuncOp model : models) {
      auto clone = cast<func::FuncOp>(
          SymbolTable::lookupSymbolIn(compiled, model.getSymNameAttr()));
      clone.setPublic();
      if (!host)
        continue;
      clone.walk([&](LayerOp layer) {
        if (!layer.getWeightsTierAttr())
          layer.setWeightsTierAttr(
              TierAttr::get(layer.getContext(), MemoryTier::host));
      });
      hostTier = true;
    }
    SymbolTable::lookupSymbolIn(compiled, function.getSymNameAttr())->erase();
    specs.push_back({function, std::move(*manifest)});
  }
  return specs;
}
