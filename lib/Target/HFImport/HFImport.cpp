//===- HFImport.cpp - Hugging Face config.json -> moe.layer ---------------===//
//
// Reads a model's config.json, picks one decoder layer, and builds
//
//   func.func @<model_type>_layer<L>(%hidden_states, %router, ...) -> [T, H]
//
// holding the `moe.layer` of that layer, with the routing of DESIGN §8 for
// the model family and every argument bound (`moe.input`) to its checkpoint
// tensor. Weights keep the Hugging Face layout (`out_in`).
//
//===----------------------------------------------------------------------===//

#include "moe/Target/HFImport.h"

#include "ConfigReader.h"

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/SourceMgr.h"

#include <functional>

using namespace mlir;
using namespace mlir::moe;
using hf::ConfigReader;

namespace {

/// Why a decoder layer has no MoE block (a sentence fragment), or nothing when
/// it has one.
using DenseRule = std::function<std::optional<std::string>(int64_t layer)>;

/// The first layer at or after `layer` that the family's layer arithmetic
/// (sparse step, dense prefix, frequency) leaves MoE; the DenseRule still has
/// the last word. Lets the importer find the first MoE layer without visiting
/// each of up to 2^31 layers.
using NextCandidate = std::function<int64_t(int64_t layer)>;

/// The MoE block of one decoder layer, as the config describes it.
struct LayerSpec {
  std::string family;
  int64_t numLayers = 0;
  int64_t layer = 0;
  int64_t hidden = 0;
  /// Routed expert intermediate size F.
  int64_t intermediate = 0;
  /// Routed experts E.
  int64_t experts = 0;
  int64_t topK = 0;
  Activation activation = Activation::silu;

  Scoring scoring = Scoring::softmax;
  bool renormalize = false;
  double scalingFactor = 1.0;
  /// Group-limited selection when numGroups > 1.
  int64_t numGroups = 1;
  int64_t keptGroups = 1;
  GroupScore groupScore = GroupScore::top2_sum;
  /// Aux-loss-free selection bias (DeepSeek-V3 e_score_correction_bias).
  bool selectionBias = false;

  /// Qwen2-MoE: width of the one shared expert (0: none).
  int64_t sharedIntermediate = 0;
  /// DeepSeek: number of shared experts, fused into one FFN of n·F.
  int64_t numSharedExperts = 0;
  /// Qwen2-MoE: the shared expert is scaled by sigmoid(x · shared gate).
  bool sharedSigmoidGate = false;

  /// Config keys the values above came from, for messages.
  StringRef expertsKey;
  StringRef groupsKey = "n_group";
  StringRef keptGroupsKey = "topk_group";
  StringRef groupSource;

  /// Checkpoint naming: `model.layers.L.<block>.` then the projections.
  StringRef block = "mlp";
  StringRef expertGate = "gate_proj", expertUp = "up_proj",
            expertDown = "down_proj";
  StringRef sharedBlock;

  DenseRule denseRule;
  /// With a denseRule; absent: every layer is a candidate.
  NextCandidate nextCandidate;
};

} // namespace

//===----------------------------------------------------------------------===//
// Config keys
//===----------------------------------------------------------------------===//

/// Keys every family may carry that do not change the MoE block: tokenizer,
/// attention, positional encoding, normalisation, training and bookkeeping.
static constexpr StringLiteral kIrrelevantKeys[] = {
    "_name_or_path",
    "architectures",
    "attention_bias",
    "attention_dropout",
    "auto_map",
    "aux_loss_alpha",
    "bos_token_id",
    "eos_token_id",
    "head_dim",
    "initializer_range",
    "max_position_embeddings",
    "max_window_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "output_router_logits",
    "pad_token_id",
    "rms_norm_eps",
    "rope_parameters",
    "rope_scaling",
    "rope_theta",
    "router_aux_loss_coef",
    "router_jitter_noise",
    "sliding_window",
    "tie_word_embeddings",
    "transformers_version",
    "use_cache",
    "use_sliding_window",
    "vocab_size",
};

/// Keys of the DeepSeek families that do not change the MoE block: multi-head
/// latent attention, multi-token prediction, the reference code's own expert
/// parallelism, and the dense MLP size of the non-MoE layers.
static constexpr StringLiteral kDeepSeekIrrelevantKeys[] = {
    "ep_size",
    "intermediate_size",
    "kv_lora_rank",
    "num_nextn_predict_layers",
    "pretraining_tp",
    "q_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "seq_aux",
    "v_head_dim",
};

/// `value` as a person writes it (2.5, 16, 1e-06).
static std::string formatNumber(double value) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%g", value);
  return text;
}

static void markKnown(ConfigReader &reader, ArrayRef<StringLiteral> keys) {
  for (StringRef key : keys)
    reader.markKnown(key);
}

/// Reads what every family has: sizes, top-k, the layer count and the
/// activation.
static LogicalResult readCommon(ConfigReader &reader, LayerSpec &spec,
                                StringRef expertsKey,
                                StringRef intermediateKey) {
  spec.expertsKey = expertsKey;
  std::string activation = "silu";
  if (failed(reader.readSize("hidden_size", spec.hidden, /*required=*/true)) ||
      failed(reader.readSize(intermediateKey, spec.intermediate,
                             /*required=*/true)) ||
      failed(reader.readSize(expertsKey, spec.experts, /*required=*/true)) ||
      failed(reader.readSize("num_experts_per_tok", spec.topK,
                             /*required=*/true)) ||
      failed(reader.readSize("num_hidden_layers", spec.numLayers,
                             /*required=*/true)) ||
      failed(reader.readString("hidden_act", activation, /*required=*/false)))
    return failure();
  std::optional<Activation> parsed =
      llvm::StringSwitch<std::optional<Activation>>(activation)
          .Cases({"silu", "swish"}, Activation::silu)
          .Case("gelu", Activation::gelu)
          .Cases({"gelu_pytorch_tanh", "gelu_new"}, Activation::gelu_tanh)
          .Case("relu", Activation::relu)
          .Default(std::nullopt);
  if (!parsed)
    return reader.emitError("hidden_act")
           << "unsupported hidden_act '" << activation
           << "'; expected silu, swish, gelu, gelu_pytorch_tanh, gelu_new "
              "or relu";
  spec.activation = *parsed;
  return success();
}

/// Qwen2/Qwen3-MoE: layer i is sparse unless it is in `mlp_only_layers` or
/// (i + 1) is not a multiple of `decoder_sparse_step`.
static LogicalResult readQwenLayers(ConfigReader &reader, LayerSpec &spec) {
  int64_t step = 1;
  SmallVector<int64_t> mlpOnly;
  if (failed(reader.readSize("decoder_sparse_step", step,
                             /*required=*/false)) ||
      failed(reader.readIndexList("mlp_only_layers", mlpOnly)))
    return failure();
  spec.denseRule = [step,
                    mlpOnly](int64_t layer) -> std::optional<std::string> {
    if (llvm::is_contained(mlpOnly, layer))
      return std::string("it is listed in mlp_only_layers");
    if ((layer + 1) % step != 0)
      return llvm::formatv("layer + 1 is not a multiple of "
                           "decoder_sparse_step ({0})",
                           step)
          .str();
    return std::nullopt;
  };
  // The next layer i with (i + 1) a multiple of step.
  spec.nextCandidate = [step](int64_t layer) {
    return (layer + 1 + step - 1) / step * step - 1;
  };
  return success();
}

//===----------------------------------------------------------------------===//
// Families
//===----------------------------------------------------------------------===//

/// Mixtral: softmax, top-K, renormalised, SwiGLU experts w1 (gate), w3 (up),
/// w2 (down) under `block_sparse_moe`.
static LogicalResult readMixtral(ConfigReader &reader, LayerSpec &spec) {
  if (failed(readCommon(reader, spec, "num_local_experts",
                        "intermediate_size")))
    return failure();
  spec.renormalize = true;
  spec.block = "block_sparse_moe";
  spec.expertGate = "w1";
  spec.expertUp = "w3";
  spec.expertDown = "w2";
  return success();
}

/// Qwen2/Qwen1.5-MoE: softmax, top-K, renormalised only with norm_topk_prob,
/// plus one shared expert scaled by sigmoid(x · shared_expert_gate).
static LogicalResult readQwen2MoE(ConfigReader &reader, LayerSpec &spec) {
  if (failed(readCommon(reader, spec, "num_experts",
                        "moe_intermediate_size")) ||
      failed(reader.readBool("norm_topk_prob", spec.renormalize)) ||
      failed(reader.readSize("shared_expert_intermediate_size",
                             spec.sharedIntermediate, /*required=*/true)) ||
      failed(readQwenLayers(reader, spec)))
    return failure();
  // The dense MLP of the layers that are not sparse.
  reader.markKnown("intermediate_size");
  spec.sharedBlock = "shared_expert";
  spec.sharedSigmoidGate = true;
  return success();
}

/// Qwen3-MoE: softmax, top-K, renormalised with norm_topk_prob, no shared
/// expert.
static LogicalResult readQwen3MoE(ConfigReader &reader, LayerSpec &spec) {
  if (failed(readCommon(reader, spec, "num_experts",
                        "moe_intermediate_size")) ||
      failed(reader.readBool("norm_topk_prob", spec.renormalize)) ||
      failed(readQwenLayers(reader, spec)))
    return failure();
  reader.markKnown("intermediate_size");
  return success();
}

/// OLMoE: softmax, top-K, renormalised only with norm_topk_prob (false in the
/// published model), every layer sparse.
static LogicalResult readOLMoE(ConfigReader &reader, LayerSpec &spec) {
  if (failed(readCommon(reader, spec, "num_experts", "intermediate_size")) ||
      failed(reader.readBool("norm_topk_prob", spec.renormalize)))
    return failure();
  // Clamping of q/k/v activations: attention only.
  reader.markKnown("clip_qkv");
  return success();
}

/// DeepSeek-V2 and -V3 (`isV3`). Defaults are those of the reference
/// configuration classes (DeepseekV2Config / DeepseekV3Config).
static LogicalResult readDeepSeek(ConfigReader &reader, LayerSpec &spec,
                                  bool isV3) {
  int64_t firstDense = isV3 ? 3 : 0, frequency = 1;
  int64_t numGroups = isV3 ? 8 : 1, keptGroups = isV3 ? 4 : 1;
  std::string scoring = isV3 ? "sigmoid" : "softmax";
  std::string method = isV3 ? "noaux_tc" : "greedy";
  spec.numSharedExperts = isV3 ? 1 : 0;
  spec.renormalize = isV3;
  spec.scalingFactor = isV3 ? 2.5 : 1.0;
  if (failed(readCommon(reader, spec, "n_routed_experts",
                        "moe_intermediate_size")) ||
      failed(reader.readCount("n_shared_experts", spec.numSharedExperts,
                              /*required=*/false)) ||
      failed(reader.readCount("first_k_dense_replace", firstDense,
                              /*required=*/false)) ||
      failed(reader.readSize("moe_layer_freq", frequency,
                             /*required=*/false)) ||
      failed(reader.readString("scoring_func", scoring, /*required=*/false)) ||
      failed(reader.readString("topk_method", method, /*required=*/false)) ||
      failed(reader.readSize("n_group", numGroups, /*required=*/false)) ||
      failed(reader.readSize("topk_group", keptGroups, /*required=*/false)) ||
      failed(reader.readNumber("routed_scaling_factor", spec.scalingFactor)) ||
      failed(reader.readBool("norm_topk_prob", spec.renormalize)))
    return failure();
  markKnown(reader, kDeepSeekIrrelevantKeys);
  if (spec.scalingFactor <= 0.0)
    return reader.emitError("routed_scaling_factor")
           << "config key 'routed_scaling_factor' must be positive, got "
           << formatNumber(spec.scalingFactor);
  spec.sharedBlock = "shared_experts";

  StringRef expectedScoring = isV3 ? "sigmoid" : "softmax";
  if (scoring != expectedScoring)
    return reader.emitError("scoring_func")
           << spec.family << ": unsupported scoring_func '" << scoring
           << "'; the reference implementation supports '" << expectedScoring
           << "'";
  spec.scoring = isV3 ? Scoring::sigmoid : Scoring::softmax;

  if (isV3) {
    if (method != "noaux_tc")
      return reader.emitError("topk_method")
             << spec.family << ": unsupported topk_method '" << method
             << "'; the reference implementation supports 'noaux_tc'";
    spec.selectionBias = true;
    spec.groupScore = GroupScore::top2_sum;
  } else if (method == "group_limited_greedy") {
    for (StringRef key : {"n_group", "topk_group"})
      if (!reader.has(key))
        return reader.emitError("topk_method")
               << "topk_method 'group_limited_greedy' needs config key '"
               << key << "'";
    spec.groupScore = GroupScore::max;
  } else if (method != "greedy") {
    return reader.emitError("topk_method")
           << spec.family << ": unsupported topk_method '" << method
           << "'; expected 'greedy' or 'group_limited_greedy'";
  }
  if (isV3 || method == "group_limited_greedy") {
    spec.numGroups = numGroups;
    spec.keptGroups = keptGroups;
    spec.groupSource = isV3 ? "noaux_tc" : "group_limited_greedy";
  }

  // The reference modeling_deepseek.py of DeepSeek-V2 scales by
  // routed_scaling_factor only when it does not renormalise; DESIGN §8 (which
  // we follow) renormalises first and then scales. Say so when it matters.
  if (!isV3 && spec.renormalize && spec.scalingFactor != 1.0 && spec.topK > 1)
    mlir::emitWarning(reader.keyLoc("norm_topk_prob"))
        << "deepseek_v2 with norm_topk_prob = true and routed_scaling_factor "
           "= "
        << formatNumber(spec.scalingFactor)
        << ": weights are renormalised and then scaled (DESIGN §8); the "
           "reference modeling_deepseek.py skips the scaling when it "
           "renormalises";

  spec.denseRule = [firstDense,
                    frequency](int64_t layer) -> std::optional<std::string> {
    if (layer < firstDense)
      return llvm::formatv("the first first_k_dense_replace ({0}) layers are "
                           "dense",
                           firstDense)
          .str();
    if (layer % frequency != 0)
      return llvm::formatv("it is not a multiple of moe_layer_freq ({0})",
                           frequency)
          .str();
    return std::nullopt;
  };
  // The next multiple of frequency at or after first_k_dense_replace.
  spec.nextCandidate = [firstDense, frequency](int64_t layer) {
    layer = std::max(layer, firstDense);
    return (layer + frequency - 1) / frequency * frequency;
  };
  return success();
}

//===----------------------------------------------------------------------===//
// Options, layer choice, routing checks
//===----------------------------------------------------------------------===//

/// Checks that an option, when given, is a size; reports at `loc`.
static LogicalResult checkOption(Location loc, StringRef flag,
                                 std::optional<int64_t> value,
                                 int64_t minimum = 1) {
  if (!value || (*value >= minimum && *value <= hf::kMaxSize))
    return success();
  return mlir::emitError(loc)
         << "--" << flag << " must be between " << minimum << " and "
         << hf::kMaxSize << ", got " << *value;
}

/// Picks the decoder layer: the requested one, which must have a MoE block,
/// or the first one that has.
static LogicalResult chooseLayer(ConfigReader &reader, LayerSpec &spec,
                                 std::optional<int64_t> requested) {
  auto rule = [&](int64_t layer) -> std::optional<std::string> {
    return spec.denseRule ? spec.denseRule(layer) : std::nullopt;
  };
  if (requested) {
    if (*requested >= spec.numLayers)
      return mlir::emitError(reader.keyLoc("num_hidden_layers"))
             << "--hf-layer=" << *requested << " is out of range: "
             << spec.family << " has " << spec.numLayers
             << " decoder layers (num_hidden_layers)";
    if (std::optional<std::string> reason = rule(*requested))
      return mlir::emitError(reader.fileLoc())
             << "--hf-layer=" << *requested << ": decoder layer "
             << *requested << " of this " << spec.family
             << " model is dense, not MoE: " << *reason;
    spec.layer = *requested;
    return success();
  }
  // Visit only the candidates: a config may claim 2^31 - 1 layers of which
  // none, or only the last, is MoE.
  auto next = [&](int64_t layer) {
    return spec.nextCandidate ? spec.nextCandidate(layer) : layer;
  };
  for (int64_t layer = next(0); layer < spec.numLayers;
       layer = next(layer + 1)) {
    if (!rule(layer)) {
      spec.layer = layer;
      return success();
    }
  }
  return mlir::emitError(reader.fileLoc())
         << "none of the " << spec.numLayers << " decoder layers of this "
         << spec.family << " model is a MoE layer";
}

/// Applies the scaling options, then checks that the routing is valid for the
/// experts there are.
static LogicalResult scaleAndCheck(ConfigReader &reader, LayerSpec &spec,
                                   const HFImportOptions &options) {
  if (options.hiddenSize)
    spec.hidden = *options.hiddenSize;
  if (options.intermediateSize) {
    // A Qwen2 shared expert keeps its width relative to a routed expert.
    if (spec.sharedIntermediate)
      spec.sharedIntermediate = std::max<int64_t>(
          1, (spec.sharedIntermediate * *options.intermediateSize +
              spec.intermediate / 2) /
                 spec.intermediate);
    spec.intermediate = *options.intermediateSize;
  }
  if (spec.numSharedExperts)
    spec.sharedIntermediate = spec.numSharedExperts * spec.intermediate;

  // Where the expert count came from, for messages.
  std::string source = llvm::formatv(" ({0})", spec.expertsKey).str();
  if (options.numExperts) {
    spec.experts = *options.numExperts;
    source = llvm::formatv(" (--hf-num-experts={0})", spec.experts).str();
  }
  if (spec.topK > spec.experts)
    return reader.emitError("num_experts_per_tok")
           << "num_experts_per_tok (" << spec.topK << ") exceeds the "
           << spec.experts << " routed experts" << source;
  if (spec.numGroups <= 1)
    return success();
  if (spec.keptGroups > spec.numGroups)
    return reader.emitError(spec.keptGroupsKey)
           << spec.keptGroupsKey << " (" << spec.keptGroups << ") exceeds "
           << spec.groupsKey << " (" << spec.numGroups << ")";
  if (spec.experts % spec.numGroups != 0)
    return reader.emitError(spec.groupsKey)
           << spec.groupsKey << " (" << spec.numGroups
           << ") does not divide the " << spec.experts << " routed experts"
           << source;
  int64_t groupSize = spec.experts / spec.numGroups;
  if (spec.groupScore == GroupScore::top2_sum && groupSize < 2)
    return reader.emitError(spec.groupsKey)
           << "topk_method '" << spec.groupSource
           << "' scores a group by its two best experts, but " << spec.groupsKey
           << " (" << spec.numGroups << ") groups of the " << spec.experts
           << " routed experts" << source << " hold only " << groupSize;
  if (spec.topK > spec.keptGroups * groupSize)
    return reader.emitError("num_experts_per_tok")
           << "num_experts_per_tok (" << spec.topK << ") exceeds the "
           << spec.keptGroups * groupSize << " experts of the "
           << spec.keptGroupsKey << " (" << spec.keptGroups
           << ") kept groups of " << groupSize << source;
  return success();
}

/// The element type: --hf-dtype, else the config's dtype / torch_dtype, else
/// f32.
static FailureOr<Type> chooseElementType(ConfigReader &reader,
                                         MLIRContext *context,
                                         const HFImportOptions &options) {
  Builder builder(context);
  std::string torchDtype, dtype;
  // Newer Transformers write `dtype`, older ones `torch_dtype`.
  if (failed(reader.readString("torch_dtype", torchDtype, false)) ||
      failed(reader.readString("dtype", dtype, false)))
    return failure();
  if (options.dtype) {
    std::optional<Type> type =
        llvm::StringSwitch<std::optional<Type>>(*options.dtype)
            .Case("f32", builder.getF32Type())
            .Case("bf16", builder.getBF16Type())
            .Case("f16", builder.getF16Type())
            .Default(std::nullopt);
    if (!type)
      return mlir::emitError(reader.optionLoc())
             << "--hf-dtype must be f32, bf16 or f16, got '" << *options.dtype
             << "'";
    return *type;
  }
  StringRef key = reader.has("dtype") ? "dtype" : "torch_dtype";
  StringRef name = reader.has("dtype") ? dtype : torchDtype;
  if (name.empty())
    return Type(builder.getF32Type());
  std::optional<Type> type =
      llvm::StringSwitch<std::optional<Type>>(name)
          .Cases({"float32", "float"}, builder.getF32Type())
          .Case("bfloat16", builder.getBF16Type())
          .Cases({"float16", "half"}, builder.getF16Type())
          .Default(std::nullopt);
  if (!type)
    return reader.emitError(key)
           << "unsupported " << key << " '" << name
           << "'; expected bfloat16, float16 or float32 (or pass --hf-dtype)";
  return *type;
}

//===----------------------------------------------------------------------===//
// IR
//===----------------------------------------------------------------------===//

/// Builds the module: one function with the layer's weights as arguments.
static OwningOpRef<ModuleOp> buildModule(MLIRContext *context, Location loc,
                                         const LayerSpec &spec,
                                         int64_t tokens, Type element) {
  OpBuilder builder(context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());

  int64_t T = tokens, H = spec.hidden, F = spec.intermediate, E = spec.experts;
  std::string layerPrefix =
      llvm::formatv("model.layers.{0}.{1}.", spec.layer, spec.block).str();
  auto expertName = [&](StringRef projection) {
    return layerPrefix + "experts.{expert}." + projection.str() + ".weight";
  };
  auto sharedName = [&](StringRef projection) {
    return layerPrefix + spec.sharedBlock.str() + "." + projection.str() +
           ".weight";
  };

  SmallVector<Type> types;
  SmallVector<std::string> names;
  auto add = [&](ArrayRef<int64_t> shape, Type type, std::string name) {
    types.push_back(RankedTensorType::get(shape, type));
    names.push_back(std::move(name));
    return types.size() - 1;
  };
  size_t tokensArg = add({T, H}, element, "hidden_states");
  size_t routerArg = add({E, H}, element, layerPrefix + "gate.weight");
  std::optional<size_t> biasArg;
  // The checkpoints keep the selection bias in f32 whatever the weights are.
  if (spec.selectionBias)
    biasArg = add({E}, builder.getF32Type(),
                  layerPrefix + "gate.e_score_correction_bias");
  size_t gateArg = add({E, F, H}, element, expertName(spec.expertGate));
  size_t upArg = add({E, F, H}, element, expertName(spec.expertUp));
  size_t downArg = add({E, H, F}, element, expertName(spec.expertDown));
  std::optional<size_t> sharedGateArg, sharedUpArg, sharedDownArg,
      sharedSigmoidArg;
  if (int64_t S = spec.sharedIntermediate) {
    sharedGateArg = add({S, H}, element, sharedName("gate_proj"));
    sharedUpArg = add({S, H}, element, sharedName("up_proj"));
    sharedDownArg = add({H, S}, element, sharedName("down_proj"));
    // nn.Linear(H, 1) in the checkpoint ([1, H]); the dialect takes [H].
    if (spec.sharedSigmoidGate)
      sharedSigmoidArg =
          add({H}, element, layerPrefix + "shared_expert_gate.weight");
  }

  Type resultType = RankedTensorType::get({T, H}, element);
  std::string name =
      llvm::formatv("{0}_layer{1}", spec.family, spec.layer).str();
  auto func = func::FuncOp::create(
      builder, loc, name, builder.getFunctionType(types, {resultType}));
  for (auto [index, tensorName] : llvm::enumerate(names))
    func.setArgAttr(index, MoEDialect::getInputAttrName(),
                    builder.getStringAttr(tensorName));
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  auto arg = [&](std::optional<size_t> index) -> Value {
    return index ? entry->getArgument(*index) : Value();
  };

  FloatAttr scale;
  if (spec.scalingFactor != 1.0)
    scale = builder.getF64FloatAttr(spec.scalingFactor);
  std::optional<int64_t> keptGroups;
  if (spec.numGroups > 1)
    keptGroups = spec.keptGroups;
  auto routing = RoutingAttr::get(
      context, spec.scoring, spec.topK, spec.renormalize, scale,
      spec.numGroups > 1 ? spec.numGroups : 1, keptGroups, spec.groupScore,
      /*top_p=*/FloatAttr(), /*zero_experts=*/0, /*copy_experts=*/0,
      /*constant_experts=*/0);
  Value result = LayerOp::create(
      builder, loc, resultType, arg(tokensArg), arg(routerArg), arg(biasArg),
      arg(gateArg), arg(upArg), arg(downArg), arg(sharedGateArg),
      arg(sharedUpArg), arg(sharedDownArg), arg(sharedSigmoidArg),
      /*constant_vectors=*/Value(), /*constant_mix=*/Value(), routing,
      spec.activation, WeightLayout::out_in, /*capacity=*/IntegerAttr(),
      /*drop_policy=*/DropPolicyAttr(), /*parallel=*/ParallelAttr(),
      /*weights_tier=*/TierAttr());
  func::ReturnOp::create(builder, loc, result);
  return module;
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp>
mlir::moe::importHFConfig(llvm::SourceMgr &sourceMgr, MLIRContext *context,
                          const HFImportOptions &options) {
  context->getOrLoadDialect<func::FuncDialect>();
  context->getOrLoadDialect<MoEDialect>();
  const llvm::MemoryBuffer *buffer =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  // Options are not in the file: name the file, no line.
  Location optionLoc =
      FileLineColLoc::get(context, buffer->getBufferIdentifier(), 0, 0);
  if (failed(checkOption(optionLoc, "hf-tokens", options.tokens)) ||
      failed(checkOption(optionLoc, "hf-layer", options.layer,
                         /*minimum=*/0)) ||
      failed(checkOption(optionLoc, "hf-hidden-size", options.hiddenSize)) ||
      failed(checkOption(optionLoc, "hf-intermediate-size",
                         options.intermediateSize)) ||
      failed(checkOption(optionLoc, "hf-num-experts", options.numExperts)))
    return nullptr;
  std::optional<ConfigReader> reader = ConfigReader::parse(
      context, buffer->getBufferIdentifier(), buffer->getBuffer());
  if (!reader)
    return nullptr;

  LayerSpec spec;
  if (failed(reader->readString("model_type", spec.family,
                                /*required=*/true)))
    return nullptr;
  using Reader = std::function<LogicalResult(ConfigReader &, LayerSpec &)>;
  Reader readFamily =
      llvm::StringSwitch<Reader>(spec.family)
          .Case("mixtral", readMixtral)
          .Case("qwen2_moe", readQwen2MoE)
          .Case("qwen3_moe", readQwen3MoE)
          .Case("olmoe", readOLMoE)
          .Case("deepseek_v2",
                [](ConfigReader &r, LayerSpec &s) {
                  return readDeepSeek(r, s, /*isV3=*/false);
                })
          .Case("deepseek_v3",
                [](ConfigReader &r, LayerSpec &s) {
                  return readDeepSeek(r, s, /*isV3=*/true);
                })
          .Default(nullptr);
  if (!readFamily) {
    reader->emitError("model_type")
        << "unsupported model_type '" << spec.family
        << "'; expected one of: deepseek_v2, deepseek_v3, mixtral, olmoe, "
           "qwen2_moe, qwen3_moe";
    return nullptr;
  }
  markKnown(*reader, kIrrelevantKeys);
  FailureOr<Type> element = failure();
  if (failed(readFamily(*reader, spec)) ||
      failed(element = chooseElementType(*reader, context, options)) ||
      failed(chooseLayer(*reader, spec, options.layer)) ||
      failed(scaleAndCheck(*reader, spec, options)))
    return nullptr;
  reader->warnAboutIgnoredKeys();

  OwningOpRef<ModuleOp> module =
      buildModule(context, reader->fileLoc(), spec, options.tokens, *element);
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

void mlir::moe::registerHFImportTranslation() {
  static llvm::cl::OptionCategory category(
      "Hugging Face import options (--import-hf-config)");
  static llvm::cl::opt<int64_t> tokens(
      "hf-tokens", llvm::cl::desc("Tokens T of the imported layer"),
      llvm::cl::init(16), llvm::cl::cat(category));
  static llvm::cl::opt<int64_t> layer(
      "hf-layer",
      llvm::cl::desc("Decoder layer to import (default: the first MoE layer)"),
      llvm::cl::cat(category));
  static llvm::cl::opt<int64_t> hiddenSize(
      "hf-hidden-size",
      llvm::cl::desc("Scale the hidden size down to this (default: config)"),
      llvm::cl::cat(category));
  static llvm::cl::opt<int64_t> intermediateSize(
      "hf-intermediate-size",
      llvm::cl::desc("Scale the routed expert intermediate size down to this; "
                     "shared experts keep their ratio (default: config)"),
      llvm::cl::cat(category));
  static llvm::cl::opt<int64_t> numExperts(
      "hf-num-experts",
      llvm::cl::desc("Scale the routed experts down to this; the routing must "
                     "stay valid (default: config)"),
      llvm::cl::cat(category));
  static llvm::cl::opt<std::string> dtype(
      "hf-dtype",
      llvm::cl::desc("Element type: f32, bf16 or f16 (default: the config's "
                     "torch_dtype, f32 when absent)"),
      llvm::cl::cat(category));

  auto translate = [](llvm::SourceMgr &sourceMgr,
                      MLIRContext *context) -> OwningOpRef<Operation *> {
    HFImportOptions options;
    options.tokens = tokens;
    auto given = [](const llvm::cl::opt<int64_t> &option) {
      return option.getNumOccurrences() ? std::optional<int64_t>(option)
                                        : std::nullopt;
    };
    options.layer = given(layer);
    options.hiddenSize = given(hiddenSize);
    options.intermediateSize = given(intermediateSize);
    options.numExperts = given(numExperts);
    if (dtype.getNumOccurrences())
      options.dtype = dtype;
    OwningOpRef<ModuleOp> module = importHFConfig(sourceMgr, context, options);
    if (!module)
      return nullptr;
    return OwningOpRef<Operation *>(module.release());
  };
  TranslateToMLIRRegistration registration(
      "import-hf-config",
      "import one MoE layer of a Hugging Face config.json as a moe.layer",
      TranslateRawSourceMgrToMLIRFunction(translate),
      [](DialectRegistry &registry) {
        registry.insert<func::FuncDialect, MoEDialect>();
      });
}
