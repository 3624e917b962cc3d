//===- BundleWriter.cpp - moe-translate --moe-to-bundle -------------------===//
//
// Writes the artifact bundle of a tensor-level module: MANIFEST (public
// functions' inputs and outputs), KERNELS (the module compiled for the host
// CPU), SCHEDULE (one flat command list per function) and REFERENCE (the
// functions' moe programs, where they have one). Layout: bundle_format.h.
// An input whose argument lives in host memory (`moe.tier = #moe.tier<host>`,
// from moe-plan-tiers; --bundle-hbm-bytes runs it) is marked "tier": "host"
// in the manifest and in its schedule buffer.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/Bundle.h"

#include "Compositions.h"
#include "KernelObject.h"

#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/CommandLine.h"

#include "moe/IR/MoEDialect.h"
#include "moe/InitAllDialects.h"

#include "BundleDType.h"
#include "moert/bundle_format.h"

#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"

#include <cstring>
#include <limits>
#include <optional>

using namespace mlir;
namespace json = llvm::json;

namespace {

/// One tensor of a function signature.
struct TensorSpec {
  std::string name;
  const char *dtype = nullptr;
  SmallVector<int64_t> shape;
  /// Sharded bundles (docs/multi-rank.md §3): the grid axes each dimension is
  /// split over (empty when the tensor is whole on every rank), the full
  /// shape, and the expert permutation applied before splitting.
  std::vector<SmallVector<int64_t, 2>> splitAxes;
  SmallVector<int64_t> fullShape;
  std::vector<int64_t> permutation;
  /// An input kept in host memory ("host"); null for the default tier (hbm),
  /// which bundles leave implicit.
  const char *tier = nullptr;

  json::Object type() const {
    return json::Object{{"dtype", dtype}, {"shape", toJson(shape)}};
  }
  /// A schedule buffer: the type and, off the default tier, the tier.
  json::Object buffer() const {
    json::Object object = type();
    if (tier)
      object["tier"] = tier;
    return object;
  }
  json::Object named() const {
    json::Object object = buffer();
    object["name"] = name;
    if (!splitAxes.empty()) {
      json::Array axes;
      for (ArrayRef<int64_t> dim : splitAxes)
        axes.push_back(toJson(dim));
      object["split_axes"] = std::move(axes);
      object["full_shape"] = toJson(fullShape);
    }
    if (!permutation.empty())
      object["expert_permutation"] = toJson(permutation);
    return object;
  }
  static json::Array toJson(ArrayRef<int64_t> values) {
    json::Array array;
    for (int64_t value : values)
      array.push_back(value);
    return array;
  }
};

struct FunctionSpec {
  func::FuncOp func;
  std::string name;
  /// The kernel's entry point; empty for a composition (no kernel).
  std::string symbol;
  SmallVector<TensorSpec> inputs, outputs;
  /// The manifest's "composition" of a function the runtime serves.
  std::optional<json::Object> composition;
};

} // namespace

/// The manifest entry of `type`; `what` names it in diagnostics.
static LogicalResult describeTensor(func::FuncOp func, Type type,
                                    const Twine &what, TensorSpec &spec) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return func.emitError() << what << " of function '" << func.getSymName()
                            << "' has type " << type
                            << "; bundles take ranked tensors only";
  if (!tensor.hasStaticShape())
    return func.emitError() << what << " of function '" << func.getSymName()
                            << "' has dynamic dimensions (" << type
                            << "); bundles take static shapes only for now";
  spec.dtype = moe::bundleDTypeOf(tensor.getElementType());
  if (!spec.dtype)
    return func.emitError() << what << " of function '" << func.getSymName()
                            << "' has element type "
                            << tensor.getElementType()
                            << "; bundles take f32, bf16, f16, i32 and i64";
  if (tensor.getRank() > MOERT_BUNDLE_MAX_RANK)
    return func.emitError() << what << " of function '" << func.getSymName()
                            << "' has rank " << tensor.getRank()
                            << ", more than the bundle limit of "
                            << MOERT_BUNDLE_MAX_RANK;
  uint64_t bytes = 0;
  uint64_t count = 1;
  for (int64_t dim : tensor.getShape())
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(dim), &count))
      count = UINT64_MAX;
  if (__builtin_mul_overflow(
          count, moert_dtype_size(moert_dtype_parse(spec.dtype)), &bytes) ||
      bytes > MOERT_BUNDLE_MAX_BUFFER_BYTES)
    return func.emitError() << what << " of function '" << func.getSymName()
                            << "' is larger than the bundle limit of "
                            << MOERT_BUNDLE_MAX_BUFFER_BYTES << " bytes";
  spec.shape.assign(tensor.getShape().begin(), tensor.getShape().end());
  return success();
}

/// Adds the split of a function argument or result (`attrs`, its attribute
/// dictionary) under `grid` to `spec`.
static LogicalResult describeSplit(func::FuncOp func, DictionaryAttr attrs,
                                   ArrayRef<int64_t> grid, const Twine &what,
                                   TensorSpec &spec) {
  if (!attrs)
    return success();
  auto split = attrs.getAs<ArrayAttr>("moe.split_axes");
  auto permutation = attrs.getAs<DenseI64ArrayAttr>("moe.expert_permutation");
  if (!split && !permutation)
    return success();
  if (grid.empty())
    return func.emitError() << what << " of function '" << func.getSymName()
                            << "' is split, but the module has no "
                               "shard.grid @moe_grid";
  spec.fullShape = spec.shape;
  spec.splitAxes.assign(spec.shape.size(), {});
  if (split) {
    if (split.size() != spec.shape.size())
      return func.emitError() << what << " of function '" << func.getSymName()
                              << "' has a 'moe.split_axes' of " << split.size()
                              << " entries for rank " << spec.shape.size();
    for (auto [dim, entry] : llvm::enumerate(split)) {
      auto axes = dyn_cast<DenseI16ArrayAttr>(entry);
      if (!axes)
        return func.emitError() << what << " of function '"
                                << func.getSymName()
                                << "' has a malformed 'moe.split_axes'";
      for (int16_t axis : axes.asArrayRef()) {
        if (axis < 0 || axis >= static_cast<int64_t>(grid.size()))
          return func.emitError() << what << " of function '"
                                  << func.getSymName() << "' is split over "
                                  << "grid axis " << axis
                                  << ", outside the grid";
        spec.splitAxes[dim].push_back(axis);
        spec.fullShape[dim] *= grid[axis];
      }
    }
  }
  if (permutation)
    spec.permutation.assign(permutation.asArrayRef().begin(),
                            permutation.asArrayRef().end());
  return success();
}

/// The tier of argument `i` of `func` in `spec`: "host" for
/// `#moe.tier<host>`, nothing for hbm (the default) or no attribute (the moe
/// dialect verifies that the attribute is a #moe.tier).
static LogicalResult describeTier(func::FuncOp func, unsigned i,
                                  TensorSpec &spec) {
  auto tier = func.getArgAttrOfType<moe::TierAttr>(
      i, moe::MoEDialect::getTierAttrName());
  if (!tier)
    return success();
  switch (tier.getTier()) {
  case moe::MemoryTier::sram:
    return mlir::emitError(func.getArgument(i).getLoc())
           << "argument " << i << " of function '" << func.getSymName()
           << "': an input cannot live in sram; use hbm or host";
  case moe::MemoryTier::hbm:
    return success();
  case moe::MemoryTier::host:
    spec.tier = "host";
    return success();
  }
  llvm_unreachable("unknown memory tier");
}

/// The signature of `func` (local types and, under `grid`, splits; inputs'
/// memory tiers).
static FailureOr<FunctionSpec> describeFunction(func::FuncOp func,
                                                ArrayRef<int64_t> grid,
                                                bool composition = false) {
  FunctionSpec spec;
  spec.func = func;
  spec.name = func.getSymName().str();
  spec.symbol = ("_mlir_ciface_" + func.getSymName()).str();
  if (func.getSymName().size() > MOERT_BUNDLE_MAX_NAME - 16)
    return func.emitError() << "function name is longer than the bundle "
                               "limit",
           failure();
  FunctionType type = func.getFunctionType();
  // A composition has no kernel: only the manifest's limit applies.
  uint64_t limit =
      composition ? MOERT_BUNDLE_MAX_TENSORS : MOERT_BUNDLE_MAX_KERNEL_ARGS;
  if (type.getNumInputs() + type.getNumResults() > limit)
    return func.emitError()
               << "function '" << func.getSymName() << "' has "
               << type.getNumInputs() + type.getNumResults()
               << " arguments and results, more than the bundle limit of "
               << limit,
           failure();
  llvm::StringSet<> names;
  for (auto [i, input] : llvm::enumerate(type.getInputs())) {
    TensorSpec tensor;
    if (failed(describeTensor(func, input, "argument " + Twine(i), tensor)) ||
        failed(describeSplit(func, func.getArgAttrDict(i), grid,
                             "argument " + Twine(i), tensor)) ||
        failed(describeTier(func, i, tensor)))
      return failure();
    auto bound = func.getArgAttrOfType<StringAttr>(
        i, moe::MoEDialect::getInputAttrName());
    tensor.name = bound ? bound.getValue().str() : "arg" + std::to_string(i);
    if (tensor.name.empty() || tensor.name.size() > MOERT_BUNDLE_MAX_NAME)
      return func.emitError() << "argument " << i
                              << " has an empty or "
                                 "over-long input name",
             failure();
    if (!names.insert(tensor.name).second)
      return func.emitError()
                 << "two arguments of function '" << func.getSymName()
                 << "' are bound to the input name '" << tensor.name << "'",
             failure();
    spec.inputs.push_back(std::move(tensor));
  }
  for (auto [i, result] : llvm::enumerate(type.getResults())) {
    TensorSpec tensor;
    if (failed(describeTensor(func, result, "result " + Twine(i), tensor)) ||
        failed(describeSplit(func, func.getResultAttrDict(i), grid,
                             "result " + Twine(i), tensor)))
      return failure();
    tensor.name = "result" + std::to_string(i);
    spec.outputs.push_back(std::move(tensor));
  }
  return spec;
}

/// The public functions of `module` with their signatures, then the
/// compositions' (which the runtime serves).
static FailureOr<std::vector<FunctionSpec>>
describeFunctions(ModuleOp module, ArrayRef<int64_t> grid,
                  ArrayRef<moe::CompositionSpec> compositions) {
  std::vector<FunctionSpec> functions;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func.isPublic() || func.isExternal())
      continue;
    FailureOr<FunctionSpec> spec = describeFunction(func, grid);
    if (failed(spec))
      return failure();
    functions.push_back(std::move(*spec));
  }
  for (const moe::CompositionSpec &composition : compositions) {
    FailureOr<FunctionSpec> spec =
        describeFunction(composition.function, grid, /*composition=*/true);
    if (failed(spec))
      return failure();
    spec->symbol.clear();
    spec->composition = composition.manifest;
    functions.push_back(std::move(*spec));
  }
  if (functions.empty())
    return moe::moduleError(module) << "the module has no public function with a "
                                 "body to put in a bundle",
           failure();
  if (functions.size() > MOERT_BUNDLE_MAX_FUNCTIONS)
    return moe::moduleError(module) << "more functions than the bundle limit",
           failure();
  return functions;
}

static json::Value buildManifest(StringRef target, ArrayRef<int64_t> grid,
                                 ArrayRef<FunctionSpec> functions) {
  json::Array entries;
  for (const FunctionSpec &function : functions) {
    json::Array inputs, outputs;
    for (const TensorSpec &tensor : function.inputs)
      inputs.push_back(tensor.named());
    for (const TensorSpec &tensor : function.outputs)
      outputs.push_back(tensor.named());
    json::Object entry{{"name", function.name},
                       {"inputs", std::move(inputs)},
                       {"outputs", std::move(outputs)}};
    if (function.composition)
      entry["composition"] = json::Object(*function.composition);
    else
      entry["symbol"] = function.symbol;
    entries.push_back(std::move(entry));
  }
  json::Object manifest{{"target", target.str()},
                        {"functions", std::move(entries)}};
  if (!grid.empty())
    manifest["grid"] = TensorSpec::toJson(grid);
  return manifest;
}

/// One kernel per compiled function; its program allocates and binds every
/// input, calls the kernel, and hands its results out. A composition's
/// program is empty: the runtime runs its models' programs.
static json::Value buildSchedule(ArrayRef<FunctionSpec> functions) {
  json::Array kernels, programs;
  for (const FunctionSpec &function : functions) {
    json::Array arguments, results, buffers, commands, argumentIds, resultIds;
    if (function.composition) {
      programs.push_back(json::Object{{"function", function.name},
                                      {"buffers", std::move(buffers)},
                                      {"commands", std::move(commands)}});
      continue;
    }
    int64_t k = kernels.size();
    for (const TensorSpec &tensor : function.inputs) {
      arguments.push_back(tensor.type());
      int64_t id = buffers.size();
      buffers.push_back(tensor.buffer());
      argumentIds.push_back(id);
    }
    for (const TensorSpec &tensor : function.outputs) {
      results.push_back(tensor.type());
      resultIds.push_back(static_cast<int64_t>(buffers.size()));
      buffers.push_back(tensor.type());
    }
    auto command = [](moert_bundle_command_kind_t kind) {
      return json::Object{{"command", moert_bundle_command_kind_name(kind)}};
    };
    for (size_t i = 0; i < function.inputs.size(); ++i) {
      json::Object allocate = command(MOERT_BUNDLE_COMMAND_ALLOCATE);
      allocate["buffer"] = static_cast<int64_t>(i);
      commands.push_back(std::move(allocate));
      json::Object bind = command(MOERT_BUNDLE_COMMAND_BIND_INPUT);
      bind["input"] = static_cast<int64_t>(i);
      bind["buffer"] = static_cast<int64_t>(i);
      commands.push_back(std::move(bind));
    }
    json::Object call = command(MOERT_BUNDLE_COMMAND_CALL);
    call["kernel"] = k;
    call["arguments"] = std::move(argumentIds);
    call["results"] = std::move(resultIds);
    commands.push_back(std::move(call));
    for (size_t o = 0; o < function.outputs.size(); ++o) {
      json::Object output = command(MOERT_BUNDLE_COMMAND_OUTPUT);
      output["output"] = static_cast<int64_t>(o);
      output["buffer"] = static_cast<int64_t>(function.inputs.size() + o);
      commands.push_back(std::move(output));
    }
    kernels.push_back(json::Object{{"symbol", function.symbol},
                                   {"arguments", std::move(arguments)},
                                   {"results", std::move(results)}});
    programs.push_back(
        json::Object{{"function", function.name},
                     {"buffers", std::move(buffers)},
                     {"commands", std::move(commands)}});
  }
  return json::Object{{"kernels", std::move(kernels)},
                      {"programs", std::move(programs)}};
}

/// Pretty-printed JSON (readable with `strings`/FileCheck), newline-ended.
static std::string printJson(const json::Value &value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:1}", value) << "\n";
  return text;
}

static void writeLittleEndian(std::string &out, size_t at, const void *value,
                              size_t size) {
  std::memcpy(&out[at], value, size);
}

/// Lays out header, section table and sections.
static LogicalResult
writeBundle(ModuleOp module, StringRef target,
            ArrayRef<std::pair<moert_bundle_section_kind_t, std::string>>
                sections,
            raw_ostream &output) {
  if (target.size() >= MOERT_BUNDLE_TARGET_SIZE)
    return moe::moduleError(module) << "target name '" << target << "' is too long";
  for (const auto &[kind, bytes] : sections) {
    uint64_t limit = kind == MOERT_BUNDLE_SECTION_KERNELS
                         ? MOERT_BUNDLE_MAX_KERNELS_BYTES
                         : MOERT_BUNDLE_MAX_JSON_BYTES;
    if (bytes.size() > limit)
      return moe::moduleError(module)
             << "the " << moert_bundle_section_kind_name(kind)
             << " section (" << bytes.size()
             << " bytes) is larger than the bundle limit of " << limit;
  }
  size_t offset = MOERT_BUNDLE_HEADER_SIZE +
                  sections.size() * MOERT_BUNDLE_SECTION_ENTRY_SIZE;
  SmallVector<moert_bundle_section_t> table;
  for (const auto &[kind, bytes] : sections) {
    offset = llvm::alignTo(offset, MOERT_BUNDLE_SECTION_ALIGNMENT);
    table.push_back({static_cast<uint32_t>(kind), 0, offset, bytes.size()});
    offset += bytes.size();
  }
  std::string out(offset, '\0');
  moert_bundle_header_t header;
  std::memset(&header, 0, sizeof(header));
  std::memcpy(header.magic, MOERT_BUNDLE_MAGIC, MOERT_BUNDLE_MAGIC_SIZE);
  header.version = MOERT_BUNDLE_FORMAT_VERSION;
  header.section_count = static_cast<uint32_t>(sections.size());
  header.file_size = out.size();
  std::memcpy(header.target, target.data(), target.size());
  writeLittleEndian(out, 0, &header, sizeof(header));
  for (auto [i, entry] : llvm::enumerate(table)) {
    writeLittleEndian(out,
                      MOERT_BUNDLE_HEADER_SIZE +
                          i * MOERT_BUNDLE_SECTION_ENTRY_SIZE,
                      &entry, sizeof(entry));
    std::memcpy(&out[entry.offset], sections[i].second.data(),
                sections[i].second.size());
  }
  output << out;
  return success();
}

/// The shape of `module`'s `shard.grid @moe_grid` (empty without one: a
/// single-rank module).
static SmallVector<int64_t> moeGridShape(ModuleOp module) {
  auto grid = dyn_cast_or_null<shard::GridOp>(
      SymbolTable::lookupSymbolIn(module, "moe_grid"));
  if (!grid)
    return {};
  return SmallVector<int64_t>(grid.getShape());
}

LogicalResult mlir::moe::translateModuleToBundle(ModuleOp module,
                                                 raw_ostream &output,
                                                 const BundleTarget &target) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                "the bundle writer lays out little-endian integers in place");
  if (target.hbmBytes < 0)
    return moe::moduleError(module)
               << "--bundle-hbm-bytes must not be negative, got "
               << target.hbmBytes,
           failure();
  if (target.expertFetch != "all" && target.hbmBytes == 0)
    return moe::moduleError(module)
               << "--bundle-expert-fetch=" << target.expertFetch
               << " needs an HBM budget (--bundle-hbm-bytes) to stream "
                  "expert weights",
           failure();
  // Compositions are served by the runtime: their models are compiled as
  // functions of their own (Compositions.h).
  OwningOpRef<ModuleOp> prepared = cast<ModuleOp>(module->clone());
  bool hostTierModels = false;
  FailureOr<SmallVector<moe::CompositionSpec>> compositions =
      moe::prepareCompositions(module, *prepared, hostTierModels);
  if (failed(compositions))
    return failure();
  if (!compositions->empty() && target.shard)
    return moe::moduleError(module)
               << "a composition runs on one rank; --bundle-shard cannot "
                  "split it",
           failure();

  // The reference programs run on full tensors: they come from the module as
  // written, before any sharding.
  FailureOr<std::vector<FunctionSpec>> unsharded =
      describeFunctions(*prepared, moeGridShape(module), *compositions);
  if (failed(unsharded))
    return failure();

  // With --bundle-shard and a plan, the kernels are the program of one rank
  // (moe-shard on a clone; a plan of one rank, or none, leaves it as it is).
  // Not the default: example modules carry plans as annotations and are run
  // on one rank.
  OwningOpRef<ModuleOp> sharded = cast<ModuleOp>(prepared->clone());
  if (target.shard) {
    PassManager pm(module.getContext(), ModuleOp::getOperationName());
    pm.addPass(createMoEShard());
    if (failed(pm.run(*sharded)))
      return moe::moduleError(module)
                 << "moe-shard could not apply the module's parallel plan "
                    "(without --bundle-shard the bundle runs on one rank)",
             failure();
  }
  // Overlap the expert-parallel all-to-alls with expert compute
  // (docs/streaming.md).
  if (target.shard && target.streamChunks > 1) {
    PassManager pm(module.getContext(), ModuleOp::getOperationName());
    pm.addPass(createMoEStream(MoEStreamOptions{target.streamChunks}));
    if (failed(pm.run(*sharded)))
      return moe::moduleError(module)
                 << "moe-stream could not stream the sharded layers in "
                 << target.streamChunks << " chunks (--bundle-stream-chunks)",
             failure();
  }
  // Weights past the HBM budget live in host memory and are prefetched ahead
  // of their layer (moe-plan-tiers, docs/memory-tiers.md). Parsed by name, so
  // that this file needs no declaration of the pass. Models whose
  // composition keeps their weights in host memory stream their layers
  // (weights_tier = host) whatever the budget; without a budget the rest
  // stays resident.
  int64_t hbmBytes = target.hbmBytes > 0 ? target.hbmBytes
                     : hostTierModels    ? std::numeric_limits<int64_t>::max()
                                         : 0;
  if (hbmBytes > 0) {
    // The planner is one of the moe passes; register them (once) for the
    // parser, whoever calls this (moe-translate, the compiler API).
    static const bool registered = (moe::registerMoEPasses(), true);
    (void)registered;
    PassManager pm(module.getContext(), ModuleOp::getOperationName(),
                   OpPassManager::Nesting::Implicit);
    std::string pipeline =
        "moe-plan-tiers{hbm-bytes=" + std::to_string(hbmBytes) +
        " expert-fetch=" + target.expertFetch + "}";
    std::string parseErrors;
    llvm::raw_string_ostream errors(parseErrors);
    if (failed(parsePassPipeline(pipeline, pm, errors)))
      return moe::moduleError(module)
                 << "moe-plan-tiers is not available to plan the memory "
                    "tiers of an HBM budget of "
                 << hbmBytes << " bytes: "
                 << StringRef(parseErrors).trim(),
             failure();
    if (failed(pm.run(*sharded)))
      return moe::moduleError(module)
                 << "moe-plan-tiers could not plan the memory tiers for an "
                    "HBM budget of "
                 << hbmBytes << " bytes (--bundle-hbm-bytes"
                 << (hostTierModels ? ", and the layers of models whose "
                                      "composition keeps their weights in "
                                      "host memory"
                                    : "")
                 << ")",
             failure();
  }
  SmallVector<int64_t> grid = moeGridShape(*sharded);
  FailureOr<std::vector<FunctionSpec>> functions =
      describeFunctions(*sharded, grid, *compositions);
  if (failed(functions))
    return failure();

  // Reference programs: a function with non-moe ops gets none (a warning).
  json::Array references;
  for (const FunctionSpec &function : *unsharded) {
    func::FuncOp func = function.func;
    FailureOr<std::string> program = buildReferenceProgram(func);
    if (failed(program))
      continue;
    llvm::Expected<json::Value> parsed = json::parse(*program);
    if (!parsed)
      return moe::moduleError(module) << "internal error: reference program of '"
                                << function.name
                                << "' is not JSON: "
                                << llvm::toString(parsed.takeError());
    references.push_back(std::move(*parsed));
  }

  FailureOr<KernelObject> kernels = compileKernelObject(*sharded, target);
  if (failed(kernels))
    return failure();

  SmallVector<std::pair<moert_bundle_section_kind_t, std::string>> sections;
  sections.emplace_back(MOERT_BUNDLE_SECTION_MANIFEST,
                        printJson(buildManifest(kernels->target, grid, *functions)));
  sections.emplace_back(MOERT_BUNDLE_SECTION_SCHEDULE,
                        printJson(buildSchedule(*functions)));
  if (!references.empty())
    sections.emplace_back(
        MOERT_BUNDLE_SECTION_REFERENCE,
        printJson(json::Object{{"programs", std::move(references)}}));
  sections.emplace_back(MOERT_BUNDLE_SECTION_KERNELS,
                        std::move(kernels->sharedObject));
  return writeBundle(module, kernels->target, sections, output);
}

void mlir::moe::registerBundleTranslation() {
  static llvm::cl::OptionCategory category("moe-to-bundle options");
  static llvm::cl::opt<BundleTarget::Kind> kind(
      "bundle-target", llvm::cl::desc("What the bundle's kernels run on"),
      llvm::cl::values(
          clEnumValN(BundleTarget::Kind::CPU, "cpu", "the host CPU (default)"),
          clEnumValN(BundleTarget::Kind::CUDA, "cuda",
                     "an NVIDIA GPU (--bundle-chip)")),
      llvm::cl::init(BundleTarget::Kind::CPU), llvm::cl::cat(category));
  static llvm::cl::opt<std::string> chip(
      "bundle-chip",
      llvm::cl::desc("GPU architecture of a cuda bundle (default sm_90a)"),
      llvm::cl::init("sm_90a"), llvm::cl::cat(category));
  static llvm::cl::opt<bool> tensorCores(
      "bundle-tensor-cores",
      llvm::cl::desc("cuda bundles: run expert FFNs that fit it on the "
                     "tensor-core grouped GEMM kernel (TMA + wgmma, sm_90a; "
                     "default on)"),
      llvm::cl::init(true), llvm::cl::cat(category));
  static llvm::cl::opt<int64_t> multiprocessors(
      "bundle-multiprocessors",
      llvm::cl::desc("cuda bundles: streaming multiprocessors of the target "
                     "GPU, the most blocks of the tensor-core kernels' "
                     "persistent grids (default 132: H100 SXM, H200)"),
      llvm::cl::init(132), llvm::cl::cat(category));
  static llvm::cl::opt<bool> warpRouter(
      "bundle-warp-router",
      llvm::cl::desc("cuda bundles: run routers (scoring and top-k) as "
                     "one-warp-per-token kernels (default on; off: one "
                     "thread per token)"),
      llvm::cl::init(true), llvm::cl::cat(category));
  static llvm::cl::opt<bool> fusedRouter(
      "bundle-fused-router",
      llvm::cl::desc("cuda bundles: run routers with their logits GEMM as "
                     "one tensor-core kernel where it applies (default on; "
                     "off: a GEMM kernel, then the router's)"),
      llvm::cl::init(true), llvm::cl::cat(category));
  static llvm::cl::opt<bool> shard(
      "bundle-shard",
      llvm::cl::desc("Apply the module's moe.parallel plan with moe-shard: "
                     "the kernels are the program of one rank and the "
                     "manifest says how tensors split (run with mpirun -np "
                     "<ranks> moe-run). Default false: the plan is an "
                     "annotation and the bundle runs on one rank"),
      llvm::cl::init(false), llvm::cl::cat(category));
  static llvm::cl::opt<int64_t> hbmBytes(
      "bundle-hbm-bytes",
      llvm::cl::desc("Plan memory tiers for this HBM budget in bytes with "
                     "moe-plan-tiers: weights that do not fit live in host "
                     "memory and are prefetched ahead of their layer "
                     "(docs/memory-tiers.md). Default 0: every weight in HBM"),
      llvm::cl::init(0), llvm::cl::cat(category));
  static llvm::cl::opt<std::string> expertFetch(
      "bundle-expert-fetch",
      llvm::cl::desc("With --bundle-hbm-bytes: what the copy of a streamed "
                     "layer's expert weights moves: all (default: every "
                     "expert, ahead of the layer), routed (the experts its "
                     "router picks, after it has) or predicted (ahead of the "
                     "layer, the experts its router picks for the previous "
                     "layer's input; then the misses); docs/memory-tiers.md "
                     "§7"),
      llvm::cl::init("all"), llvm::cl::cat(category));
  static llvm::cl::opt<int64_t> streamChunks(
      "bundle-stream-chunks",
      llvm::cl::desc("With --bundle-shard: run moe-stream with this many "
                     "chunks, so that each layer's expert-parallel "
                     "all-to-alls overlap its expert compute "
                     "(docs/streaming.md). Default 1: not streamed"),
      llvm::cl::init(1), llvm::cl::cat(category));
  TranslateFromMLIRRegistration registration(
      "moe-to-bundle",
      "compile a tensor-level module for the CPU (or, with "
      "--bundle-target=cuda, a GPU) and write the artifact bundle (manifest, "
      "kernels, schedule, reference programs)",
      [](Operation *op, raw_ostream &output) -> LogicalResult {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError() << "expected a builtin.module";
        BundleTarget target;
        target.kind = kind;
        target.chip = chip;
        target.shard = shard;
        if (streamChunks < 1 || (streamChunks > 1 && !shard))
          return module.emitError()
                 << "--bundle-stream-chunks must be at least 1 and needs "
                    "--bundle-shard, got "
                 << int64_t(streamChunks)
                 << (shard ? "" : " without --bundle-shard");
        target.streamChunks = streamChunks;
        target.hbmBytes = hbmBytes;
        if (expertFetch != "all" && expertFetch != "routed" &&
            expertFetch != "predicted")
          return module.emitError()
                 << "--bundle-expert-fetch must be all, routed or "
                    "predicted, got '"
                 << expertFetch << "'";
        target.expertFetch = expertFetch;
        target.tensorCores = tensorCores;
        if (multiprocessors < 1)
          return module.emitError()
                 << "--bundle-multiprocessors must be at least 1, got "
                 << int64_t(multiprocessors);
        target.multiprocessors = multiprocessors;
        target.warpRouter = warpRouter;
        target.fusedRouter = fusedRouter;
        return translateModuleToBundle(module, output, target);
      },
      [](DialectRegistry &registry) {
        mlir::registerAllDialects(registry);
        mlir::registerAllExtensions(registry);
        mlir::moe::registerAllDialects(registry);
        registerBuiltinDialectTranslation(registry);
        registerLLVMDialectTranslation(registry);
        registerAllGPUToLLVMIRTranslations(registry);
      });
}
