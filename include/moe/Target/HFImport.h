//===- HFImport.h - Hugging Face config.json importer -----------*- C++ -*-===//
//
// `moe-translate --import-hf-config config.json` turns a Hugging Face model
// configuration into a module holding one `func.func` with the `moe.layer` of
// one decoder layer (Mixtral, Qwen2/1.5-MoE, Qwen3-MoE, DeepSeek-V2/V3, OLMoE),
// with the routing semantics of DESIGN §8 and `moe.input` names of the
// layer's checkpoint tensors.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_HFIMPORT_H
#define MOE_TARGET_HFIMPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace llvm {
class SourceMgr;
} // namespace llvm

namespace mlir::moe {

/// What to import and how to scale it down. Unset fields take the config's
/// value. Every size must be positive; the importer reports bad values.
struct HFImportOptions {
  /// Tokens T of the layer's activations.
  int64_t tokens = 16;
  /// Decoder layer; by default the first MoE layer of the model.
  std::optional<int64_t> layer;
  /// Hidden size H.
  std::optional<int64_t> hiddenSize;
  /// Routed expert intermediate size F (the shared experts scale with it).
  std::optional<int64_t> intermediateSize;
  /// Routed experts E (must keep the routing valid, e.g. groups dividing E).
  std::optional<int64_t> numExperts;
  /// Element type: "f32", "bf16" or "f16"; by default the config's
  /// `torch_dtype` (f32 when absent).
  std::optional<std::string> dtype;
};

/// Imports the config.json in the main buffer of `sourceMgr` (its identifier
/// names the file in diagnostics). Returns null after emitting diagnostics
/// through `context` on malformed JSON, missing or ill-typed keys, unknown
/// model types and invalid options; config keys it does not understand are
/// reported in one warning.
OwningOpRef<ModuleOp> importHFConfig(llvm::SourceMgr &sourceMgr,
                                     MLIRContext *context,
                                     const HFImportOptions &options);

/// Registers `--import-hf-config` with moe-translate, with its `--hf-*`
/// options (tokens, layer, hidden-size, intermediate-size, num-experts, dtype).
void registerHFImportTranslation();

} // namespace mlir::moe

#endif // MOE_TARGET_HFIMPORT_H
