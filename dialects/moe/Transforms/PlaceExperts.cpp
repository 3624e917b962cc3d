//===- PlaceExperts.cpp - moe-place-experts -------------------------------===//
//
// Expert placement from a routing trace: per layer, a permutation of the
// routed experts over the EP ranks that lowers the predicted all-to-all bytes
// (inter-layer affinity) under a load-balance bound. The trace format, the
// traffic model and the algorithm are documented in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mlir::moe {
#define GEN_PASS_DEF_MOEPLACEEXPERTS
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

static constexpr StringLiteral kPermutationAttrName = "moe.expert_permutation";
static constexpr StringLiteral kTraceFormat = "moe-routing-trace";
static constexpr int64_t kTraceVersion = 1;

namespace {

/// A moe.layer / moe.experts to place, with what the model reads from it.
struct PlacedOp {
  Operation *op;
  int64_t experts;  // E routed
  double rowBytes;  // H * element bytes
  int64_t ep;       // EP size
};

/// One `[i, j, count]` of a layer's `pairs_with_next`.
struct TracePair {
  int64_t from, to, count;
};

/// One layer of the routing trace, validated against its op.
struct TraceLayer {
  SmallVector<int64_t> tokens;
  SmallVector<TracePair> pairsWithNext;
};

/// An edge of the affinity graph: `bytes` cross ranks unless expert `from` of
/// layer l and expert `to` of layer l+1 share a rank.
struct Edge {
  int32_t from, to;
  double bytes;
};

/// The placement problem: L layers, each with E_l experts over `ep` ranks.
struct Problem {
  int64_t ep = 1;
  SmallVector<int64_t> experts;          // E_l
  SmallVector<SmallVector<double>> load; // tokens per expert
  SmallVector<double> bound;             // (1 + imbalance) * mean rank load
  SmallVector<double> fixedBytes;        // bytes of layer l if nothing were saved
  SmallVector<SmallVector<Edge>> edges;  // edges[l]: layer l -> layer l+1
  // Adjacency for the local search: per layer, per expert, (neighbour, bytes).
  SmallVector<SmallVector<SmallVector<std::pair<int32_t, double>>>> inEdges,
      outEdges;
  double tolerance = 0; // gains below this are rounding noise

  int64_t numLayers() const { return experts.size(); }
  int64_t slots(int64_t layer) const { return experts[layer] / ep; }
};

/// owner[l][e]: the rank holding expert e of layer l.
using Placement = SmallVector<SmallVector<int32_t>>;

/// Predicted bytes and rank loads of a placement.
struct Evaluation {
  SmallVector<double> bytes;                 // per layer
  SmallVector<SmallVector<double>> rankLoad; // per layer, per rank
  double totalBytes = 0;
  int64_t unbalancedLayers = 0;
};

} // namespace

//===----------------------------------------------------------------------===//
// The model
//===----------------------------------------------------------------------===//

static Evaluation evaluate(const Problem &problem, const Placement &owner) {
  Evaluation result;
  for (int64_t l = 0, e = problem.numLayers(); l < e; ++l) {
    double saved = 0;
    if (l > 0)
      for (const Edge &edge : problem.edges[l - 1])
        if (owner[l - 1][edge.from] == owner[l][edge.to])
          saved += edge.bytes;
    double bytes = std::max(0.0, problem.fixedBytes[l] - saved);
    result.bytes.push_back(bytes);
    result.totalBytes += bytes;
    SmallVector<double> loads(problem.ep, 0.0);
    for (int64_t x = 0; x < problem.experts[l]; ++x)
      loads[owner[l][x]] += problem.load[l][x];
    if (*llvm::max_element(loads) > problem.bound[l])
      ++result.unbalancedLayers;
    result.rankLoad.push_back(std::move(loads));
  }
  return result;
}

static SmallVector<double> rankLoads(const Problem &problem,
                                     const Placement &owner, int64_t l) {
  SmallVector<double> loads(problem.ep, 0.0);
  for (int64_t x = 0; x < problem.experts[l]; ++x)
    loads[owner[l][x]] += problem.load[l][x];
  return loads;
}

/// affinity[x * ep + r]: bytes that stay on rank r if expert x of layer l
/// moves there, given the placement of layers l-1 and l+1.
static SmallVector<double> affinity(const Problem &problem,
                                    const Placement &owner, int64_t l,
                                    bool withNext) {
  int64_t ep = problem.ep;
  SmallVector<double> result(problem.experts[l] * ep, 0.0);
  for (int64_t x = 0; x < problem.experts[l]; ++x) {
    if (l > 0)
      for (auto [from, bytes] : problem.inEdges[l][x])
        result[x * ep + owner[l - 1][from]] += bytes;
    if (withNext && l + 1 < problem.numLayers())
      for (auto [to, bytes] : problem.outEdges[l][x])
        result[x * ep + owner[l + 1][to]] += bytes;
  }
  return result;
}

/// Experts of layer l, heaviest first (ties: lower index).
static SmallVector<int32_t> heaviestFirst(const Problem &problem, int64_t l) {
  SmallVector<int32_t> order(problem.experts[l]);
  std::iota(order.begin(), order.end(), 0);
  llvm::sort(order, [&](int32_t a, int32_t b) {
    double wa = problem.load[l][a], wb = problem.load[l][b];
    return wa != wb ? wa > wb : a < b;
  });
  return order;
}

//===----------------------------------------------------------------------===//
// The algorithm
//===----------------------------------------------------------------------===//

static Placement identityPlacement(const Problem &problem) {
  Placement owner;
  for (int64_t l = 0, e = problem.numLayers(); l < e; ++l) {
    SmallVector<int32_t> layer(problem.experts[l]);
    for (int64_t x = 0; x < problem.experts[l]; ++x)
      layer[x] = x / problem.slots(l);
    owner.push_back(std::move(layer));
  }
  return owner;
}

/// Layer by layer: each expert (heaviest first) goes to the rank with a free
/// slot, within the load bound, that keeps most bytes from the previous
/// layer; the first layer by longest processing time.
static Placement greedyPlacement(const Problem &problem) {
  int64_t ep = problem.ep;
  Placement owner;
  for (int64_t l = 0, e = problem.numLayers(); l < e; ++l) {
    owner.push_back(SmallVector<int32_t>(problem.experts[l], -1));
    SmallVector<double> gain = affinity(problem, owner, l, /*withNext=*/false);
    SmallVector<double> loads(ep, 0.0);
    SmallVector<int64_t> free(ep, problem.slots(l));
    for (int32_t x : heaviestFirst(problem, l)) {
      double weight = problem.load[l][x];
      int32_t best = -1;
      bool bestFits = false;
      for (int32_t r = 0; r < ep; ++r) {
        if (free[r] == 0)
          continue;
        bool fits = loads[r] + weight <= problem.bound[l];
        if (best < 0 || (fits && !bestFits)) {
          best = r;
          bestFits = fits;
          continue;
        }
        if (fits != bestFits)
          continue;
        // Within the bound: most affinity, then least load; beyond: least
        // load.
        double a = gain[x * ep + r], b = gain[x * ep + best];
        if (fits && a != b) {
          if (a > b)
            best = r;
          continue;
        }
        if (loads[r] < loads[best])
          best = r;
      }
      owner[l][x] = best;
      loads[best] += weight;
      --free[best];
    }
  }
  return owner;
}

/// Swaps experts of layer l to bring its most loaded rank within the bound:
/// each step swaps an expert of the most loaded rank with a lighter one of
/// another rank, the pair of ranks ending as low as possible. Returns whether
/// the layer is balanced.
static bool repairBalance(const Problem &problem, Placement &owner, int64_t l) {
  int64_t ep = problem.ep, experts = problem.experts[l];
  SmallVector<double> loads = rankLoads(problem, owner, l);
  SmallVector<double> gain = affinity(problem, owner, l, /*withNext=*/true);
  const SmallVector<double> &weight = problem.load[l];
  for (int64_t step = 0, limit = experts * ep; step < limit; ++step) {
    int32_t heavy = llvm::max_element(loads) - loads.begin();
    if (loads[heavy] <= problem.bound[l])
      return true;
    int32_t bestA = -1, bestB = -1;
    double bestMax = loads[heavy], bestGain = 0;
    for (int32_t a = 0; a < experts; ++a) {
      if (owner[l][a] != heavy)
        continue;
      for (int32_t b = 0; b < experts; ++b) {
        int32_t q = owner[l][b];
        if (q == heavy || weight[b] >= weight[a])
          continue;
        double pairMax = std::max(loads[heavy] - weight[a] + weight[b],
                                  loads[q] - weight[b] + weight[a]);
        double g = gain[a * ep + q] - gain[a * ep + heavy] +
                   gain[b * ep + heavy] - gain[b * ep + q];
        if (pairMax < bestMax || (pairMax == bestMax && bestA >= 0 &&
                                  g > bestGain)) {
          bestA = a;
          bestB = b;
          bestMax = pairMax;
          bestGain = g;
        }
      }
    }
    if (bestA < 0)
      return false;
    int32_t q = owner[l][bestB];
    loads[heavy] += weight[bestB] - weight[bestA];
    loads[q] += weight[bestA] - weight[bestB];
    owner[l][bestA] = q;
    owner[l][bestB] = heavy;
  }
  return *llvm::max_element(loads) <= problem.bound[l];
}

/// One local-search visit of layer l: swaps of two ranks' whole expert sets,
/// then swaps of two experts on different ranks, each taken when it keeps
/// more bytes on rank and keeps (or does not worsen) the load bound. Returns
/// whether anything changed.
static bool improveLayer(const Problem &problem, Placement &owner, int64_t l) {
  int64_t ep = problem.ep, experts = problem.experts[l];
  SmallVector<double> gain = affinity(problem, owner, l, /*withNext=*/true);
  bool changed = false;

  // Rank-set swaps: kept[p * ep + q] = bytes kept if rank p's experts moved
  // to rank q. Loads move with the sets, so balance is unaffected.
  SmallVector<double> kept(ep * ep, 0.0);
  for (int64_t x = 0; x < experts; ++x)
    for (int64_t r = 0; r < ep; ++r)
      kept[owner[l][x] * ep + r] += gain[x * ep + r];
  for (int32_t p = 0; p < ep; ++p) {
    for (int32_t q = p + 1; q < ep; ++q) {
      double g = kept[p * ep + q] - kept[p * ep + p] + kept[q * ep + p] -
                 kept[q * ep + q];
      if (g <= problem.tolerance)
        continue;
      for (int32_t &rank : owner[l])
        rank = rank == p ? q : rank == q ? p : rank;
      for (int64_t r = 0; r < ep; ++r)
        std::swap(kept[p * ep + r], kept[q * ep + r]);
      changed = true;
    }
  }

  // Expert swaps.
  SmallVector<double> loads = rankLoads(problem, owner, l);
  const SmallVector<double> &weight = problem.load[l];
  for (int32_t a = 0; a < experts; ++a) {
    for (int32_t b = a + 1; b < experts; ++b) {
      int32_t p = owner[l][a], q = owner[l][b];
      if (p == q)
        continue;
      double g = gain[a * ep + q] - gain[a * ep + p] + gain[b * ep + p] -
                 gain[b * ep + q];
      if (g <= problem.tolerance)
        continue;
      double newP = loads[p] - weight[a] + weight[b];
      double newQ = loads[q] - weight[b] + weight[a];
      double limit =
          std::max(problem.bound[l], std::max(loads[p], loads[q]));
      if (std::max(newP, newQ) > limit)
        continue;
      loads[p] = newP;
      loads[q] = newQ;
      owner[l][a] = q;
      owner[l][b] = p;
      changed = true;
    }
  }
  return changed;
}

/// Repairs balance, then improves by local search until no swap helps.
static void localSearch(const Problem &problem, Placement &owner) {
  for (int64_t l = 0, e = problem.numLayers(); l < e; ++l)
    repairBalance(problem, owner, l);
  for (int64_t round = 0; round < 100; ++round) {
    bool changed = false;
    for (int64_t l = 0, e = problem.numLayers(); l < e; ++l)
      changed |= improveLayer(problem, owner, l);
    if (!changed)
      return;
  }
}

/// The permutation recorded on the op: rank 0's experts (ascending), then
/// rank 1's, and so on.
static SmallVector<int64_t> toPermutation(const Problem &problem,
                                          const Placement &owner, int64_t l) {
  SmallVector<int64_t> perm;
  for (int32_t r = 0; r < problem.ep; ++r)
    for (int64_t x = 0; x < problem.experts[l]; ++x)
      if (owner[l][x] == r)
        perm.push_back(x);
  return perm;
}

//===----------------------------------------------------------------------===//
// Reading the trace
//===----------------------------------------------------------------------===//

namespace {
/// Validates the routing trace against the ops it describes; every error
/// names the file and the JSON path of the field.
class TraceReader {
public:
  TraceReader(StringRef path, ModuleOp module, ArrayRef<PlacedOp> ops)
      : path(path), module(module), ops(ops) {}

  FailureOr<SmallVector<TraceLayer>> read();

private:
  InFlightDiagnostic error(Operation *where, const Twine &field) {
    return where->emitError()
           << "routing trace '" << path << "': " << field << ": ";
  }
  std::optional<int64_t> integer(Operation *where, const llvm::json::Value &v,
                                 const Twine &field, int64_t min);
  LogicalResult knownKeys(Operation *where, const llvm::json::Object &object,
                          const Twine &field, ArrayRef<StringRef> keys);
  LogicalResult readTokens(int64_t l, const llvm::json::Object &layer,
                           TraceLayer &out);
  LogicalResult readPairs(int64_t l, const llvm::json::Object &layer,
                          ArrayRef<TraceLayer> layers, TraceLayer &out);

  std::string path;
  ModuleOp module;
  ArrayRef<PlacedOp> ops;
};
} // namespace

std::optional<int64_t> TraceReader::integer(Operation *where,
                                            const llvm::json::Value &v,
                                            const Twine &field, int64_t min) {
  std::optional<int64_t> value = v.getAsInteger();
  if (!value || *value < min) {
    auto diag = error(where, field);
    diag << "must be " << (min == 0 ? "a non-negative" : "a positive")
         << " integer";
    if (value)
      diag << ", got " << *value;
    return std::nullopt;
  }
  return value;
}

LogicalResult TraceReader::knownKeys(Operation *where,
                                     const llvm::json::Object &object,
                                     const Twine &field,
                                     ArrayRef<StringRef> keys) {
  SmallVector<StringRef> unknown;
  for (const auto &entry : object)
    if (!llvm::is_contained(keys, StringRef(entry.first)))
      unknown.push_back(entry.first);
  if (unknown.empty())
    return success();
  llvm::sort(unknown);
  auto diag = error(where, field);
  diag << "unknown field '" << unknown.front() << "' (expected one of";
  for (StringRef key : keys)
    diag << " '" << key << "'";
  return diag << ")";
}

FailureOr<SmallVector<TraceLayer>> TraceReader::read() {
  Operation *top = module;
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return module.emitError() << "cannot read routing trace '" << path
                              << "': " << buffer.getError().message();
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse((*buffer)->getBuffer());
  if (!parsed)
    return module.emitError() << "routing trace '" << path
                              << "' is not valid JSON: "
                              << llvm::toString(parsed.takeError());
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return error(top, "top level") << "must be a JSON object";
  if (failed(knownKeys(top, *root, "top level",
                       {"format", "version", "tokens", "top_k", "source",
                        "layers"})))
    return failure();

  const llvm::json::Value *format = root->get("format");
  if (!format)
    return error(top, "format") << "is missing (expected \"" << kTraceFormat
                                << "\")";
  std::optional<StringRef> formatName = format->getAsString();
  if (!formatName)
    return error(top, "format") << "must be a string";
  if (*formatName != kTraceFormat)
    return error(top, "format") << "is \"" << *formatName << "\", expected \""
                                << kTraceFormat << "\"";
  const llvm::json::Value *version = root->get("version");
  if (!version)
    return error(top, "version") << "is missing";
  std::optional<int64_t> versionNumber = integer(top, *version, "version", 1);
  if (!versionNumber)
    return failure();
  if (*versionNumber != kTraceVersion)
    return error(top, "version") << *versionNumber
                                 << " is not supported (this pass reads "
                                    "version "
                                 << kTraceVersion << ")";
  if (const llvm::json::Value *tokens = root->get("tokens"))
    if (!integer(top, *tokens, "tokens", 0))
      return failure();
  if (const llvm::json::Value *topK = root->get("top_k"))
    if (!integer(top, *topK, "top_k", 1))
      return failure();
  if (const llvm::json::Value *source = root->get("source"))
    if (!source->getAsString())
      return error(top, "source") << "must be a string";

  const llvm::json::Value *layersValue = root->get("layers");
  if (!layersValue)
    return error(top, "layers") << "is missing";
  const llvm::json::Array *layers = layersValue->getAsArray();
  if (!layers)
    return error(top, "layers") << "must be an array";
  if (layers->size() != ops.size())
    return error(top, "layers")
           << "has " << layers->size() << " layer(s) but the module has "
           << ops.size()
           << " moe.layer/moe.experts op(s) to place (one per layer, in "
              "program order)";

  SmallVector<TraceLayer> result(ops.size());
  SmallVector<const llvm::json::Object *> objects;
  for (auto [l, value] : llvm::enumerate(*layers)) {
    std::string field = ("layers[" + Twine(l) + "]").str();
    const llvm::json::Object *layer = value.getAsObject();
    if (!layer)
      return error(ops[l].op, field) << "must be a JSON object";
    if (failed(knownKeys(ops[l].op, *layer, field,
                         {"tokens_per_expert", "pairs_with_next"})) ||
        failed(readTokens(l, *layer, result[l])))
      return failure();
    objects.push_back(layer);
  }
  for (auto [l, layer] : llvm::enumerate(objects))
    if (failed(readPairs(l, *layer, result, result[l])))
      return failure();
  return result;
}

LogicalResult TraceReader::readTokens(int64_t l,
                                      const llvm::json::Object &layer,
                                      TraceLayer &out) {
  Operation *op = ops[l].op;
  std::string field = ("layers[" + Twine(l) + "].tokens_per_expert").str();
  const llvm::json::Value *value = layer.get("tokens_per_expert");
  if (!value)
    return error(op, field) << "is missing";
  const llvm::json::Array *tokens = value->getAsArray();
  if (!tokens)
    return error(op, field) << "must be an array";
  if (int64_t(tokens->size()) != ops[l].experts)
    return error(op, field) << "has " << tokens->size()
                            << " entries, expected " << ops[l].experts
                            << " (the routed experts of this "
                            << op->getName() << ")";
  for (auto [x, count] : llvm::enumerate(*tokens)) {
    std::optional<int64_t> n =
        integer(op, count, field + "[" + Twine(x) + "]", 0);
    if (!n)
      return failure();
    out.tokens.push_back(*n);
  }
  return success();
}

LogicalResult TraceReader::readPairs(int64_t l,
                                     const llvm::json::Object &layer,
                                     ArrayRef<TraceLayer> layers,
                                     TraceLayer &out) {
  Operation *op = ops[l].op;
  std::string field = ("layers[" + Twine(l) + "].pairs_with_next").str();
  const llvm::json::Value *value = layer.get("pairs_with_next");
  if (!value)
    return success();
  const llvm::json::Array *pairs = value->getAsArray();
  if (!pairs)
    return error(op, field) << "must be an array";
  bool last = l + 1 == int64_t(layers.size());
  if (last && !pairs->empty())
    return error(op, field) << "the last layer has no next layer to pair with";
  llvm::DenseMap<std::pair<int64_t, int64_t>, size_t> seen;
  for (auto [k, pairValue] : llvm::enumerate(*pairs)) {
    std::string at = (field + "[" + Twine(k) + "]").str();
    const llvm::json::Array *pair = pairValue.getAsArray();
    if (!pair || pair->size() != 3)
      return error(op, at) << "must be an array [expert, next-layer expert, "
                              "count]";
    int64_t sizes[2] = {ops[l].experts, ops[l + 1].experts};
    int64_t entries[3];
    for (int64_t i = 0; i < 3; ++i) {
      std::optional<int64_t> entry =
          integer(op, (*pair)[i], at + "[" + Twine(i) + "]", 0);
      if (!entry)
        return failure();
      if (i < 2 && *entry >= sizes[i])
        return error(op, at + "[" + Twine(i) + "]")
               << "expert " << *entry << " is out of range [0, " << sizes[i]
               << ") of layer " << l + i;
      entries[i] = *entry;
    }
    auto [it, inserted] =
        seen.try_emplace({entries[0], entries[1]}, size_t(k));
    if (!inserted)
      return error(op, at) << "repeats the pair of experts (" << entries[0]
                           << ", " << entries[1] << ") of " << field << "["
                           << it->second << "]";
    if (entries[2] > 0) {
      for (int64_t i = 0; i < 2; ++i) {
        if (layers[l + i].tokens[entries[i]] != 0)
          continue;
        return error(op, at)
               << "counts " << entries[2] << " token(s) through expert "
               << entries[i] << " of layer " << l + i
               << ", which has no tokens (layers[" << l + i
               << "].tokens_per_expert[" << entries[i] << "] is 0)";
      }
    }
    out.pairsWithNext.push_back({entries[0], entries[1], entries[2]});
  }
  return success();
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct MoEPlaceExpertsPass
    : mlir::moe::impl::MoEPlaceExpertsBase<MoEPlaceExpertsPass> {
  using MoEPlaceExpertsBase::MoEPlaceExpertsBase;
  void runOnOperation() override;

private:
  FailureOr<SmallVector<PlacedOp>> collectOps(ModuleOp module);
  void explainPlacement(ArrayRef<PlacedOp> ops, const Problem &problem,
                        const Evaluation &before, const Evaluation &after);
};
} // namespace

/// The routed experts, hidden size and EP size of every op to place.
FailureOr<SmallVector<PlacedOp>>
MoEPlaceExpertsPass::collectOps(ModuleOp module) {
  auto plan =
      module->getAttrOfType<ParallelAttr>(MoEDialect::getParallelAttrName());
  if (plan && epSize > 0 && plan.getEp() != epSize) {
    module.emitError() << "moe-place-experts option ep (" << int64_t(epSize)
                       << ") disagrees with the module's '"
                       << MoEDialect::getParallelAttrName()
                       << "' plan (ep = " << plan.getEp() << ")";
    return failure();
  }
  SmallVector<PlacedOp> ops;
  // Expert weights of the ops placed so far: a placement permutes them, so
  // two ops sharing one would need one placement.
  DenseMap<Value, Operation *> weightUsers;
  bool failedOp = false;
  module.walk<WalkOrder::PreOrder>([&](Operation *op) {
    Value up, rows;
    SmallVector<Value, 3> weights;
    std::optional<ParallelAttr> own;
    if (auto layer = dyn_cast<LayerOp>(op)) {
      up = layer.getUpWeight();
      rows = layer.getTokens();
      own = layer.getParallel();
      weights = {layer.getGateWeight(), up, layer.getDownWeight()};
    } else if (auto experts = dyn_cast<ExpertsOp>(op)) {
      up = experts.getUpWeight();
      rows = experts.getRows();
      weights = {experts.getGateWeight(), up, experts.getDownWeight()};
    } else {
      return;
    }
    for (Value weight : weights) {
      if (!weight)
        continue;
      auto [it, inserted] = weightUsers.try_emplace(weight, op);
      if (inserted || it->second == op)
        continue;
      InFlightDiagnostic diag = op->emitError();
      diag << "moe-place-experts places every layer on its own, but this "
              "op's expert weights are also those of an earlier op";
      diag.attachNote(it->second->getLoc()) << "the earlier op";
      failedOp = true;
      return;
    }
    auto rowType = cast<RankedTensorType>(rows.getType());
    int64_t count = cast<RankedTensorType>(up.getType()).getDimSize(0);
    int64_t hidden = rowType.getDimSize(1);
    if (ShapedType::isDynamic(count) || ShapedType::isDynamic(hidden)) {
      op->emitError() << "moe-place-experts needs a static number of routed "
                         "experts and hidden size";
      failedOp = true;
      return;
    }
    int64_t ep = own ? own->getEp() : plan ? plan.getEp() : int64_t(epSize);
    if (own && epSize > 0 && own->getEp() != epSize) {
      op->emitError() << "moe-place-experts option ep (" << int64_t(epSize)
                      << ") disagrees with this layer's parallel plan (ep = "
                      << own->getEp() << ")";
      failedOp = true;
      return;
    }
    if (ep < 1) {
      op->emitError() << "moe-place-experts needs the EP size: neither this "
                         "op nor the module has a '"
                      << MoEDialect::getParallelAttrName()
                      << "' plan, and the ep option is not set";
      failedOp = true;
      return;
    }
    if (count % ep != 0) {
      op->emitError() << "ep (" << ep << ") does not divide the " << count
                      << " routed experts of this op";
      failedOp = true;
      return;
    }
    if (!ops.empty() && ops.front().ep != ep) {
      op->emitError() << "this op's ep (" << ep << ") differs from the first "
                      << "placed op's (" << ops.front().ep
                      << "): moe-place-experts needs one EP size";
      failedOp = true;
      return;
    }
    int64_t elementBytes =
        (rowType.getElementType().getIntOrFloatBitWidth() + 7) / 8;
    ops.push_back({op, count, double(hidden * elementBytes), ep});
  });
  if (failedOp)
    return failure();
  if (ops.empty()) {
    module.emitError()
        << "moe-place-experts found no moe.layer or moe.experts to place";
    return failure();
  }
  return ops;
}

/// The affinity graph and bounds of the model (Passes.td).
static Problem buildProblem(ArrayRef<PlacedOp> ops,
                            ArrayRef<TraceLayer> trace, double imbalance) {
  Problem problem;
  problem.ep = ops.front().ep;
  double ep = double(problem.ep);
  double totalEdgeBytes = 0;
  for (auto [l, op] : llvm::enumerate(ops)) {
    problem.experts.push_back(op.experts);
    SmallVector<double> load(trace[l].tokens.begin(), trace[l].tokens.end());
    double total = std::accumulate(load.begin(), load.end(), 0.0);
    problem.bound.push_back((1.0 + imbalance) * total / ep);
    problem.load.push_back(std::move(load));
    problem.inEdges.emplace_back(op.experts);
    problem.outEdges.emplace_back(op.experts);
  }
  for (int64_t l = 0, e = ops.size(); l < e; ++l) {
    double rowBytes = ops[l].rowBytes;
    const SmallVector<double> &load = problem.load[l];
    double total = std::accumulate(load.begin(), load.end(), 0.0);
    if (l == 0) {
      problem.fixedBytes.push_back(total * (ep - 1) / ep * rowBytes);
      continue;
    }
    // Column sums of the previous layer's pairs: how the rows of expert j
    // split over the previous layer's experts.
    SmallVector<double> column(ops[l].experts, 0.0);
    for (const TracePair &pair : trace[l - 1].pairsWithNext)
      column[pair.to] += double(pair.count);
    double fixed = 0;
    for (int64_t j = 0; j < ops[l].experts; ++j)
      fixed += column[j] > 0 ? load[j] : load[j] * (ep - 1) / ep;
    problem.fixedBytes.push_back(fixed * rowBytes);
    SmallVector<Edge> edges;
    for (const TracePair &pair : trace[l - 1].pairsWithNext) {
      if (pair.count == 0)
        continue;
      double bytes =
          double(pair.count) * load[pair.to] / column[pair.to] * rowBytes;
      edges.push_back({int32_t(pair.from), int32_t(pair.to), bytes});
      problem.outEdges[l - 1][pair.from].push_back({int32_t(pair.to), bytes});
      problem.inEdges[l][pair.to].push_back({int32_t(pair.from), bytes});
      totalEdgeBytes += bytes;
    }
    problem.edges.push_back(std::move(edges));
  }
  problem.tolerance = 1e-12 * totalEdgeBytes;
  return problem;
}

static std::string formatNumber(const char *format, double value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::format(format, value);
  return text;
}

static std::string formatBytes(double bytes) {
  return formatNumber("%.0f", bytes);
}

static double maxOverMean(ArrayRef<double> loads) {
  double total = std::accumulate(loads.begin(), loads.end(), 0.0);
  if (total == 0)
    return 1.0;
  return *llvm::max_element(loads) * double(loads.size()) / total;
}

static void printLoads(raw_ostream &os, ArrayRef<double> loads) {
  os << "[";
  llvm::interleaveComma(loads, os,
                        [&](double load) { os << llvm::format("%.0f", load); });
  os << "] (max/mean " << llvm::format("%.3f", maxOverMean(loads)) << ")";
}

static void printChange(raw_ostream &os, double before, double after) {
  os << "before " << formatBytes(before) << ", after " << formatBytes(after);
  if (before <= 0)
    return;
  double change = 100.0 * (before - after) / before;
  if (change >= 0)
    os << llvm::format(" (reduced by %.1f%%)", change);
  else
    os << llvm::format(" (increased by %.1f%%)", -change);
}

void MoEPlaceExpertsPass::explainPlacement(ArrayRef<PlacedOp> ops,
                                           const Problem &problem,
                                           const Evaluation &before,
                                           const Evaluation &after) {
  raw_ostream &os = llvm::errs();
  os << "moe-place-experts: trace '" << tracePath << "': " << ops.size()
     << " layer(s), ep = " << problem.ep << ", load bound (1 + "
     << llvm::format("%g", double(imbalance))
     << ") x mean; before = identity placement\n";
  double worstBefore = 1.0, worstAfter = 1.0;
  for (auto [l, op] : llvm::enumerate(ops)) {
    os << "moe-place-experts: layer " << l << " (" << op.op->getName() << ", "
       << op.experts << " experts, " << formatBytes(op.rowBytes)
       << " B/row): all-to-all bytes ";
    printChange(os, before.bytes[l], after.bytes[l]);
    os << "\n  rank loads before ";
    printLoads(os, before.rankLoad[l]);
    os << "\n  rank loads after  ";
    printLoads(os, after.rankLoad[l]);
    os << "\n";
    worstBefore = std::max(worstBefore, maxOverMean(before.rankLoad[l]));
    worstAfter = std::max(worstAfter, maxOverMean(after.rankLoad[l]));
  }
  os << "moe-place-experts: total all-to-all bytes ";
  printChange(os, before.totalBytes, after.totalBytes);
  os << "; worst max/mean rank load before "
     << llvm::format("%.3f", worstBefore) << ", after "
     << llvm::format("%.3f", worstAfter) << "\n";
}

void MoEPlaceExpertsPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (tracePath.empty()) {
    module.emitError() << "moe-place-experts needs a routing trace: "
                          "--moe-place-experts=\"trace=PATH\"";
    return signalPassFailure();
  }
  if (!(imbalance >= 0.0) || !std::isfinite(imbalance)) {
    module.emitError() << "moe-place-experts option imbalance must be a "
                          "finite number >= 0, got "
                       << formatNumber("%g", imbalance);
    return signalPassFailure();
  }
  if (epSize < 0) {
    module.emitError() << "moe-place-experts option ep must not be negative, "
                          "got "
                       << int64_t(epSize);
    return signalPassFailure();
  }
  FailureOr<SmallVector<PlacedOp>> ops = collectOps(module);
  if (failed(ops))
    return signalPassFailure();
  FailureOr<SmallVector<TraceLayer>> trace =
      TraceReader(tracePath, module, *ops).read();
  if (failed(trace))
    return signalPassFailure();

  Problem problem = buildProblem(*ops, *trace, imbalance);
  Placement identity = identityPlacement(problem);
  Evaluation before = evaluate(problem, identity);

  // Two starts, each repaired and improved; the better balanced one wins.
  Placement best = greedyPlacement(problem);
  localSearch(problem, best);
  Evaluation bestEval = evaluate(problem, best);
  Placement fromIdentity = identity;
  localSearch(problem, fromIdentity);
  Evaluation identityEval = evaluate(problem, fromIdentity);
  if (std::make_pair(identityEval.unbalancedLayers, identityEval.totalBytes) <
      std::make_pair(bestEval.unbalancedLayers, bestEval.totalBytes)) {
    best = std::move(fromIdentity);
    bestEval = std::move(identityEval);
  }

  for (auto [l, op] : llvm::enumerate(*ops)) {
    double maxLoad = *llvm::max_element(bestEval.rankLoad[l]);
    if (maxLoad > problem.bound[l])
      op.op->emitWarning()
          << "moe-place-experts found no placement of this layer within the "
             "load bound: its most loaded rank has "
          << formatNumber("%.0f", maxLoad) << " tokens, above (1 + "
          << formatNumber("%g", imbalance) << ") x mean = "
          << formatNumber("%.1f", problem.bound[l]);
    op.op->setAttr(kPermutationAttrName,
                   DenseI64ArrayAttr::get(&getContext(),
                                          toPermutation(problem, best, l)));
  }
  if (explain)
    explainPlacement(*ops, problem, before, bestEval);
}
