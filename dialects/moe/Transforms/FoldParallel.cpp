//===- FoldParallel.cpp - moe-fold-parallel -------------------------------===//
//
// MoE parallel folding: chooses the module's `#moe.parallel` plan (attention
// tp x cp x dp x pp, MoE etp x ep x edp x pp over the same world) with the cost
// model documented in Passes.td, or checks a plan the module already carries.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"
#include "moe/IR/MoEShapes.h"
#include "moe/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFOLDPARALLEL
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// What the cost model reads from one moe.layer or moe.chain.
struct LayerShape {
  Operation *op;
  int64_t tokens;                 // T
  int64_t hidden;                 // H
  int64_t experts;                // E routed
  int64_t logitColumns;           // routed + null experts (router width)
  int64_t topK;                   // K
  int64_t intermediate;           // F
  int64_t matrices;               // 3 gated, 2 plain
  int64_t sharedIntermediate = 0; // Fs, 0 without shared experts
  int64_t sharedMatrices = 0;
  int64_t iterations = 1; // C (moe.chain)
  int64_t rows;           // dispatch rows of one iteration
  int64_t elementBytes;
  Type elementType;
};

/// A candidate plan; world = tp*cp*dp*pp = etp*ep*edp*pp.
struct Plan {
  int64_t tp = 1, cp = 1, dp = 1, pp = 1, etp = 1, ep = 1, edp = 1;

  static Plan fromAttr(ParallelAttr attr) {
    return {attr.getTp(),  attr.getCp(), attr.getDp(), attr.getPp(),
            attr.getEtp(), attr.getEp(), attr.getEdp()};
  }
  ParallelAttr toAttr(MLIRContext *context) const {
    return ParallelAttr::get(context, tp, cp, dp, pp, etp, ep, edp);
  }
  int64_t world() const { return tp * cp * dp * pp; }
};

/// Machine and model parameters of the cost model (SI units).
struct Machine {
  double flopsPerSecond;
  double hbmBytesPerSecond;
  double capacityBytes;
  double linkBytesPerSecond;
  double interNodeBytesPerSecond;
  int64_t ranksPerNode;
  int64_t microbatches;
};

/// Cost terms of one plan, in seconds per layer step (averaged over the
/// module's layers), and the weights of the heaviest stage per rank.
struct Cost {
  double weightBytes = 0;
  double compute = 0, hbm = 0, allToAll = 0, expertTP = 0, attentionTP = 0,
         context = 0, bubble = 0, total = 0;
};

struct Candidate {
  Plan plan;
  Cost cost;
};

/// One reason a plan does not fit the model, with the op it concerns (null:
/// the module as a whole).
struct Violation {
  Operation *op;
  std::string message;
};

} // namespace

static int64_t bytesOf(Type type) {
  return (type.getIntOrFloatBitWidth() + 7) / 8;
}

static int64_t dimOf(Value value, unsigned dim) {
  return cast<RankedTensorType>(value.getType()).getDimSize(dim);
}

/// Reads the shape of a moe.layer / moe.chain; reports dynamic sizes the cost
/// model needs.
template <typename BlockOp>
static FailureOr<LayerShape> readBlock(BlockOp op, int64_t iterations,
                                       std::optional<uint64_t> capacity) {
  bool inOut = op.getLayout() == WeightLayout::in_out;
  LayerShape shape;
  shape.op = op;
  shape.tokens = dimOf(op.getTokens(), 0);
  shape.hidden = dimOf(op.getTokens(), 1);
  shape.experts = dimOf(op.getUpWeight(), 0);
  shape.intermediate = dimOf(op.getUpWeight(), inOut ? 2 : 1);
  for (auto [name, size] :
       {std::pair<StringRef, int64_t>{"token count (T)", shape.tokens},
        {"hidden size (H)", shape.hidden},
        {"number of routed experts (E)", shape.experts},
        {"expert intermediate size (F)", shape.intermediate}})
    if (ShapedType::isDynamic(size))
      return op.emitError() << "moe-fold-parallel needs a static " << name
                            << " to cost this layer";
  RoutingAttr routing = op.getRouting();
  shape.topK = routing.getTopK();
  shape.logitColumns = shape.experts + routing.getNumNullExperts();
  shape.matrices = op.getGateWeight() ? 3 : 2;
  if (Value sharedUp = op.getSharedUpWeight()) {
    shape.sharedIntermediate = dimOf(sharedUp, inOut ? 1 : 0);
    shape.sharedMatrices = op.getSharedGateWeight() ? 3 : 2;
    if (ShapedType::isDynamic(shape.sharedIntermediate))
      return op.emitError() << "moe-fold-parallel needs a static shared "
                               "expert intermediate size to cost this layer";
  }
  shape.iterations = iterations;
  shape.rows =
      dispatchRowBound(shape.tokens, shape.topK, shape.experts, capacity);
  if (ShapedType::isDynamic(shape.rows))
    return op.emitError() << "the dispatch rows of this layer overflow int64";
  shape.elementType = getElementTypeOrSelf(op.getTokens().getType());
  shape.elementBytes = bytesOf(shape.elementType);
  return shape;
}

static SmallVector<int64_t> divisorsOf(int64_t n) {
  SmallVector<int64_t> low, high;
  for (int64_t d = 1; d <= n / d; ++d) {
    if (n % d != 0)
      continue;
    low.push_back(d);
    if (d != n / d)
      high.push_back(n / d);
  }
  low.append(high.rbegin(), high.rend());
  return low;
}

/// Weights one rank holds for `layer` under `plan` (bytes).
static double weightBytesPerRank(const LayerShape &layer, const Plan &plan) {
  double h = layer.hidden;
  double experts = double(layer.experts) * layer.matrices * h *
                   layer.intermediate / double(plan.ep * plan.etp);
  double attention = 4.0 * h * h / double(plan.tp);
  double shared =
      double(layer.sharedMatrices) * h * layer.sharedIntermediate / plan.tp;
  double routers = h * layer.logitColumns * layer.iterations;
  return (experts + attention + shared + routers) * layer.elementBytes;
}

/// Bandwidth of a collective over a group of `degree` ranks `stride` apart.
static double groupBandwidth(const Machine &machine, int64_t degree,
                             int64_t stride) {
  int64_t span = degree * stride;
  bool inNode =
      span <= machine.ranksPerNode && machine.ranksPerNode % span == 0;
  return inNode ? machine.linkBytesPerSecond : machine.interNodeBytesPerSecond;
}

/// Cost terms of `layer` under `plan`, seconds per layer step.
static Cost layerCost(const LayerShape &layer, const Plan &plan,
                      const Machine &machine) {
  double world = double(plan.world());
  double pp = double(plan.pp);
  double stageRanks = world / pp;
  double t = layer.tokens, h = layer.hidden, bytes = layer.elementBytes;
  double c = layer.iterations;
  double rows = double(layer.rows) * c;

  Cost cost;
  double flops =
      2.0 * rows * layer.matrices * h * layer.intermediate +
      2.0 * t * layer.sharedMatrices * h * layer.sharedIntermediate * c +
      2.0 * t * h * layer.logitColumns * c + 2.0 * t * 4.0 * h * h;
  cost.compute = flops / (world * machine.flopsPerSecond);

  double reads = plan.pp > 1 ? double(machine.microbatches) : 1.0;
  cost.hbm =
      reads * weightBytesPerRank(layer, plan) / machine.hbmBytesPerSecond / pp;

  // Rows each rank sends (dispatch) and receives back (combine).
  double rowBytesPerRank = rows / stageRanks * h * bytes;
  double ep = plan.ep, etp = plan.etp, tp = plan.tp, cp = plan.cp;
  cost.allToAll = 2.0 * rowBytesPerRank * (ep - 1.0) / ep /
                  groupBandwidth(machine, plan.ep, plan.etp) / pp;
  cost.expertTP = 2.0 * rowBytesPerRank * (etp - 1.0) /
                  groupBandwidth(machine, plan.etp, 1) / pp;

  double groupTokens = t / double(plan.dp * plan.cp);
  double sharedPasses = layer.sharedIntermediate > 0 ? c : 0.0;
  cost.attentionTP = 2.0 * groupTokens * h * bytes * (tp - 1.0) / tp *
                     (1.0 + sharedPasses) /
                     groupBandwidth(machine, plan.tp, 1) / pp;
  cost.context = (cp - 1.0) * groupTokens * 2.0 * (h / tp) * bytes /
                 groupBandwidth(machine, plan.cp, plan.tp) / pp;

  double busy = std::max(cost.compute, cost.hbm) + cost.allToAll +
                cost.expertTP + cost.attentionTP + cost.context;
  cost.bubble = busy * (pp - 1.0) / double(machine.microbatches);
  cost.total = busy + cost.bubble;
  return cost;
}

/// Mean cost over the module's layers; weights of the heaviest stage.
static Cost planCost(ArrayRef<LayerShape> layers, int64_t modelLayers,
                     const Plan &plan, const Machine &machine) {
  Cost sum;
  double heaviestLayer = 0;
  for (const LayerShape &layer : layers) {
    Cost cost = layerCost(layer, plan, machine);
    sum.compute += cost.compute;
    sum.hbm += cost.hbm;
    sum.allToAll += cost.allToAll;
    sum.expertTP += cost.expertTP;
    sum.attentionTP += cost.attentionTP;
    sum.context += cost.context;
    sum.bubble += cost.bubble;
    sum.total += cost.total;
    heaviestLayer = std::max(heaviestLayer, weightBytesPerRank(layer, plan));
  }
  double n = layers.size();
  for (double *term : {&sum.compute, &sum.hbm, &sum.allToAll, &sum.expertTP,
                       &sum.attentionTP, &sum.context, &sum.bubble, &sum.total})
    *term /= n;
  int64_t stageLayers = (modelLayers + plan.pp - 1) / plan.pp;
  sum.weightBytes = heaviestLayer * double(stageLayers);
  return sum;
}

/// Everything that makes `plan` unusable for the model except memory and the
/// world size, in a fixed order.
static SmallVector<Violation>
divisibilityViolations(ArrayRef<LayerShape> layers, int64_t modelLayers,
                       int64_t attentionHeads, const Plan &plan,
                       StringRef subject) {
  SmallVector<Violation> violations;
  auto add = [&](Operation *op, auto &&...parts) {
    std::string message;
    llvm::raw_string_ostream os(message);
    os << subject;
    (os << ... << parts);
    violations.push_back({op, std::move(message)});
  };
  for (const LayerShape &layer : layers) {
    if (layer.experts % plan.ep != 0)
      add(layer.op, "ep (", plan.ep, ") does not divide the ", layer.experts,
          " routed experts of this layer");
    if (layer.intermediate % plan.etp != 0)
      add(layer.op, "etp (", plan.etp,
          ") does not divide the expert intermediate size (",
          layer.intermediate, ") of this layer");
    if (layer.hidden % plan.tp != 0)
      add(layer.op, "tp (", plan.tp, ") does not divide the hidden size (",
          layer.hidden, ") of this layer");
    if (layer.sharedIntermediate > 0 && layer.sharedIntermediate % plan.tp != 0)
      add(layer.op, "tp (", plan.tp,
          ") does not divide the shared expert intermediate size (",
          layer.sharedIntermediate, ") of this layer");
    if (plan.dp * plan.cp > layer.tokens)
      add(layer.op, "dp*cp (", plan.dp * plan.cp, ") exceeds the ",
          layer.tokens, " tokens of this layer");
  }
  if (attentionHeads > 0 && attentionHeads % plan.tp != 0)
    add(nullptr, "tp (", plan.tp, ") does not divide the ", attentionHeads,
        " attention heads");
  if (plan.pp > modelLayers)
    add(nullptr, "pp (", plan.pp, ") exceeds the ", modelLayers,
        " MoE layers of the model");
  return violations;
}

/// `bytes` in GB (10^9) with one decimal, for diagnostics and explanations.
static std::string gigabytes(double bytes) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%.1f", bytes / 1e9);
  return text;
}

static void printDegrees(raw_ostream &os, const Plan &plan) {
  os << "attn = {tp = " << plan.tp << ", cp = " << plan.cp
     << ", dp = " << plan.dp << ", pp = " << plan.pp
     << "}, moe = {etp = " << plan.etp << ", ep = " << plan.ep
     << ", edp = " << plan.edp << "}";
}

static void printRow(raw_ostream &os, StringRef label, const Candidate &row) {
  const Plan &p = row.plan;
  const Cost &c = row.cost;
  auto us = [](double seconds) { return llvm::format("%9.1f", seconds * 1e6); };
  os << llvm::format("%5s", label.str().c_str()) << " |"
     << llvm::format("%4lld%4lld%4lld%4lld", (long long)p.tp, (long long)p.cp,
                     (long long)p.dp, (long long)p.pp)
     << " |"
     << llvm::format("%4lld%4lld%4lld", (long long)p.etp, (long long)p.ep,
                     (long long)p.edp)
     << " |" << llvm::format("%8.1f", c.weightBytes / 1e9) << " |"
     << us(c.compute) << us(c.hbm) << us(c.allToAll) << us(c.expertTP)
     << us(c.attentionTP) << us(c.context) << us(c.bubble) << " |"
     << us(c.total) << "\n";
}

static void printHeader(raw_ostream &os) {
  os << "moe-fold-parallel: microseconds per layer step; total = max(compute, "
        "hbm) + a2a + etp + tp + cp + bubble\n";
  os << " rank |  tp  cp  dp  pp | etp  ep edp | GB/rank |  compute      hbm"
        "      a2a      etp       tp       cp   bubble |    total\n";
}

namespace {
struct MoEFoldParallelPass
    : mlir::moe::impl::MoEFoldParallelBase<MoEFoldParallelPass> {
  using MoEFoldParallelBase::MoEFoldParallelBase;

  void runOnOperation() override;

private:
  LogicalResult checkOptions(ModuleOp module);
  LogicalResult checkWorldSize(ModuleOp module, const Plan &plan);
  void explainModel(ArrayRef<LayerShape> layers, int64_t modelLayers,
                    const Machine &machine);
};
} // namespace

LogicalResult MoEFoldParallelPass::checkOptions(ModuleOp module) {
  if (worldSize < 1)
    return module.emitError()
           << "moe-fold-parallel needs world-size=N with N >= 1, got "
           << int64_t(worldSize);
  for (auto [name, value] :
       {std::pair<StringRef, double>{"peak-tflops", peakTflops},
        {"hbm-bandwidth-gbps", hbmBandwidthGbps},
        {"link-bandwidth-gbps", linkBandwidthGbps},
        {"inter-node-bandwidth-gbps", interNodeBandwidthGbps},
        {"hbm-bytes-per-rank", double(hbmBytesPerRank)},
        {"ranks-per-node", double(ranksPerNode)},
        {"microbatches", double(microbatches)}})
    if (!(value > 0.0) || !std::isfinite(value))
      return module.emitError() << "moe-fold-parallel option " << name
                                << " must be positive, got " << value;
  if (numLayers < 0 || attentionHeads < 0 || explainTop < 0)
    return module.emitError() << "moe-fold-parallel options num-layers, "
                                 "attention-heads and explain-top must not "
                                 "be negative";
  return success();
}

/// Reports a given plan that does not span world-size ranks.
LogicalResult MoEFoldParallelPass::checkWorldSize(ModuleOp module,
                                                  const Plan &plan) {
  if (plan.world() == worldSize)
    return success();
  return module.emitError()
         << "'" << MoEDialect::getParallelAttrName() << "' plan spans "
         << plan.world() << " ranks (tp*cp*dp*pp = " << plan.tp << "*"
         << plan.cp << "*" << plan.dp << "*" << plan.pp
         << ") but world-size is " << int64_t(worldSize);
}

void MoEFoldParallelPass::explainModel(ArrayRef<LayerShape> layers,
                                       int64_t modelLayers,
                                       const Machine &machine) {
  raw_ostream &os = llvm::outs();
  os << "moe-fold-parallel: world-size " << int64_t(worldSize) << ", "
     << layers.size() << " moe op(s) in the module standing for " << modelLayers
     << " MoE layer(s)\n";
  for (auto [index, layer] : llvm::enumerate(layers)) {
    os << "moe-fold-parallel: layer " << index << ": " << layer.op->getName()
       << " T=" << layer.tokens << " H=" << layer.hidden
       << " E=" << layer.experts << " K=" << layer.topK
       << " F=" << layer.intermediate
       << (layer.matrices == 3 ? " gated" : " plain")
       << " Fs=" << layer.sharedIntermediate << " C=" << layer.iterations
       << " rows=" << layer.rows << " " << layer.elementType << "\n";
  }
  os << "moe-fold-parallel: machine: "
     << llvm::format("%g", machine.flopsPerSecond / 1e12) << " TFLOP/s, HBM "
     << llvm::format("%g", machine.hbmBytesPerSecond / 1e9) << " GB/s, "
     << llvm::format("%g", machine.capacityBytes / 1e9) << " GB/rank, "
     << llvm::format("%g", machine.linkBytesPerSecond / 1e9)
     << " GB/s in a node of " << machine.ranksPerNode << " ranks, "
     << llvm::format("%g", machine.interNodeBytesPerSecond / 1e9)
     << " GB/s across nodes, " << machine.microbatches
     << " microbatches under pp\n";
}

void MoEFoldParallelPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(checkOptions(module)))
    return signalPassFailure();

  // Read the layers; collect each failure before giving up.
  SmallVector<LayerShape> layers;
  bool readFailed = false;
  module.walk([&](Operation *op) {
    FailureOr<LayerShape> shape = failure();
    if (auto layer = dyn_cast<LayerOp>(op))
      shape = readBlock(layer, 1, layer.getCapacity());
    else if (auto chain = dyn_cast<ChainOp>(op))
      shape =
          readBlock(chain, chain.getIterationsAttr().getInt(), std::nullopt);
    else
      return;
    if (failed(shape)) {
      readFailed = true;
      return;
    }
    layers.push_back(*shape);
  });
  if (readFailed)
    return signalPassFailure();

  // A layer's own plan must span the same devices.
  bool layerPlanFailed = false;
  module.walk([&](LayerOp layer) {
    std::optional<ParallelAttr> own = layer.getParallel();
    if (own && own->getWorldSize() != worldSize) {
      layer.emitError() << "this layer's parallel plan spans "
                        << own->getWorldSize()
                        << " ranks but moe-fold-parallel has world-size "
                        << int64_t(worldSize);
      layerPlanFailed = true;
    }
  });

  auto given =
      module->getAttrOfType<ParallelAttr>(MoEDialect::getParallelAttrName());
  if (layers.empty()) {
    if (given && failed(checkWorldSize(module, Plan::fromAttr(given))))
      return signalPassFailure();
    if (given)
      return;
    module.emitError() << "moe-fold-parallel found no moe.layer or moe.chain "
                          "to plan for";
    return signalPassFailure();
  }

  int64_t modelLayers = numLayers > 0 ? numLayers : int64_t(layers.size());
  if (modelLayers < int64_t(layers.size())) {
    module.emitError() << "num-layers (" << int64_t(numLayers)
                       << ") is smaller than the " << layers.size()
                       << " moe.layer/moe.chain ops in the module";
    return signalPassFailure();
  }
  Machine machine{peakTflops * 1e12,
                  hbmBandwidthGbps * 1e9,
                  double(hbmBytesPerRank),
                  linkBandwidthGbps * 1e9,
                  interNodeBandwidthGbps * 1e9,
                  ranksPerNode,
                  microbatches};
  if (explain)
    explainModel(layers, modelLayers, machine);

  if (given) {
    // Check the module's plan; one diagnostic per violation.
    Plan plan = Plan::fromAttr(given);
    std::string subject =
        ("'" + MoEDialect::getParallelAttrName() + "' plan's ").str();
    bool failedCheck = layerPlanFailed;
    if (failed(checkWorldSize(module, plan)))
      failedCheck = true;
    for (Violation &violation : divisibilityViolations(
             layers, modelLayers, attentionHeads, plan, subject)) {
      Operation *where = violation.op ? violation.op : module.getOperation();
      where->emitError() << violation.message;
      failedCheck = true;
    }
    Cost cost = planCost(layers, modelLayers, plan, machine);
    if (cost.weightBytes > machine.capacityBytes) {
      module.emitError()
          << "'" << MoEDialect::getParallelAttrName() << "' plan needs "
          << gigabytes(cost.weightBytes) << " GB of weights per rank ("
          << (modelLayers + plan.pp - 1) / plan.pp
          << " layer(s) per stage), more than hbm-bytes-per-rank ("
          << gigabytes(machine.capacityBytes) << " GB)";
      failedCheck = true;
    }
    if (explain) {
      printHeader(llvm::outs());
      printRow(llvm::outs(), "given", {plan, cost});
    }
    if (failedCheck)
      signalPassFailure();
    return;
  }
  if (layerPlanFailed)
    return signalPassFailure();

  // Enumerate the foldings of the world. Degrees that cannot divide the
  // model are skipped before the inner loops (the full check below is the
  // reference); the rest are counted as failing divisibility.
  int64_t minTokens = std::numeric_limits<int64_t>::max();
  for (const LayerShape &layer : layers)
    minTokens = std::min(minTokens, layer.tokens);
  auto tpMayDivide = [&](int64_t tp) {
    if (attentionHeads > 0 && attentionHeads % tp != 0)
      return false;
    return llvm::all_of(layers, [&](const LayerShape &layer) {
      return layer.hidden % tp == 0 && layer.sharedIntermediate % tp == 0;
    });
  };
  auto etpMayDivide = [&](int64_t etp) {
    return llvm::all_of(layers, [&](const LayerShape &layer) {
      return layer.intermediate % etp == 0;
    });
  };
  auto epMayDivide = [&](int64_t ep) {
    return llvm::all_of(layers, [&](const LayerShape &layer) {
      return layer.experts % ep == 0;
    });
  };

  // The `keep` cheapest feasible candidates, cheapest first; ties (to 1 ns)
  // go to the smaller pp, tp, cp, etp, ep.
  auto key = [](const Candidate &c) {
    return std::make_tuple(std::llround(c.cost.total * 1e9), c.plan.pp,
                           c.plan.tp, c.plan.cp, c.plan.etp, c.plan.ep);
  };
  auto cheaper = [&](const Candidate &a, const Candidate &b) {
    return key(a) < key(b);
  };
  size_t keep = std::max<size_t>(1, explain ? size_t(explainTop) : 1);
  SmallVector<Candidate> feasible;
  int64_t candidates = 0, passDivisibility = 0, failMemory = 0, numFeasible = 0;
  std::optional<Candidate> lightest;
  for (int64_t pp : divisorsOf(worldSize)) {
    int64_t stage = worldSize / pp;
    SmallVector<int64_t> stageDivisors = divisorsOf(stage);
    // Ordered (a, b, c) with a*b*c = stage, for each grouping.
    int64_t groupings = 0;
    for (int64_t first : stageDivisors)
      groupings += divisorsOf(stage / first).size();
    candidates += groupings * groupings;
    if (pp > modelLayers)
      continue;
    for (int64_t tp : stageDivisors) {
      // dp*cp = stage/tp must not exceed any layer's tokens.
      if (!tpMayDivide(tp) || stage / tp > minTokens)
        continue;
      for (int64_t cp : divisorsOf(stage / tp)) {
        for (int64_t etp : stageDivisors) {
          if (!etpMayDivide(etp))
            continue;
          for (int64_t ep : divisorsOf(stage / etp)) {
            if (!epMayDivide(ep))
              continue;
            Plan plan{tp,  cp, stage / (tp * cp), pp,
                      etp, ep, stage / (etp * ep)};
            if (!divisibilityViolations(layers, modelLayers, attentionHeads,
                                        plan, "")
                     .empty())
              continue;
            ++passDivisibility;
            Candidate candidate{plan,
                                planCost(layers, modelLayers, plan, machine)};
            if (!lightest ||
                candidate.cost.weightBytes < lightest->cost.weightBytes)
              lightest = candidate;
            if (candidate.cost.weightBytes > machine.capacityBytes) {
              ++failMemory;
              continue;
            }
            ++numFeasible;
            auto *at = std::upper_bound(feasible.begin(), feasible.end(),
                                        candidate, cheaper);
            if (size_t(at - feasible.begin()) >= keep)
              continue;
            feasible.insert(at, candidate);
            if (feasible.size() > keep)
              feasible.pop_back();
          }
        }
      }
    }
  }
  int64_t failDivisibility = candidates - passDivisibility;

  if (explain) {
    raw_ostream &os = llvm::outs();
    os << "moe-fold-parallel: " << candidates << " candidates, " << numFeasible
       << " feasible (" << failDivisibility << " fail divisibility, "
       << failMemory << " fail memory)\n";
    if (!feasible.empty()) {
      printHeader(os);
      for (auto [index, candidate] :
           llvm::enumerate(ArrayRef(feasible).take_front(size_t(explainTop))))
        printRow(os, std::to_string(index + 1), candidate);
    }
  }

  if (feasible.empty()) {
    if (!lightest) {
      module.emitError()
          << "no parallel plan for world-size " << int64_t(worldSize)
          << " passes the divisibility checks (ep | experts, etp | expert "
             "intermediate size, tp | hidden size, shared intermediate size "
             "and heads, dp*cp <= tokens, pp <= layers)";
      return signalPassFailure();
    }
    std::string degrees;
    llvm::raw_string_ostream degreesStream(degrees);
    printDegrees(degreesStream, lightest->plan);
    module.emitError() << "no parallel plan for world-size "
                       << int64_t(worldSize) << " fits in hbm-bytes-per-rank ("
                       << gigabytes(machine.capacityBytes)
                       << " GB): the lightest of the " << failMemory
                       << " plans that pass the divisibility checks needs "
                       << gigabytes(lightest->cost.weightBytes)
                       << " GB of weights per rank (" << degrees << ")";
    return signalPassFailure();
  }

  ParallelAttr chosen = feasible.front().plan.toAttr(&getContext());
  module->setAttr(MoEDialect::getParallelAttrName(), chosen);
  if (explain)
    llvm::outs() << "moe-fold-parallel: chose " << chosen << "\n";
}
