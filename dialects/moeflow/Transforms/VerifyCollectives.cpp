//===- VerifyCollectives.cpp - moeflow-verify-collectives -----------------===//
//
// Static check that the ranks of every group issue matching collectives:
// each entry function is evaluated once per rank of each `shard.grid` its
// collectives name (rank-dependent control flow folded with the rank's
// constant coordinates), and the resulting per-rank sequences are compared
// group by group. What is compared is documented in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "moeflow/IR/MoEFlowOps.h"
#include "moeflow/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <functional>
#include <map>
#include <set>
#include <tuple>

namespace mlir::moeflow {
#define GEN_PASS_DEF_MOEFLOWVERIFYCOLLECTIVES
#include "moeflow/Transforms/Passes.h.inc"
} // namespace mlir::moeflow

using namespace mlir;
using namespace mlir::moeflow;

/// Ranks of a grid the pass evaluates at most.
static constexpr int64_t kMaxRanks = 1 << 16;
/// Nesting of calls the pass follows at most.
static constexpr int64_t kMaxCallDepth = 64;

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

/// The group of a moeflow collective: its grid and listed axes.
static std::optional<std::pair<FlatSymbolRefAttr, ArrayRef<int16_t>>>
collectiveGroup(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<std::pair<
                                           FlatSymbolRefAttr, ArrayRef<int16_t>>>>(
             op)
      .Case<AllToAllVOp, AllToAllVStartOp, AllGatherOp, ReduceScatterOp,
            AllReduceOp, SendOp, RecvOp>([](auto collective) {
        return std::make_pair(collective.getGridAttr(), collective.getAxes());
      })
      .Default([](Operation *) { return std::nullopt; });
}

static bool isPointToPoint(Operation *op) { return isa<SendOp, RecvOp>(op); }

/// The collective the runtime sees: a started all_to_all_v is issued (and
/// numbered) at its start as an all_to_all_v, so the two forms match.
static StringRef issuedName(Operation *op) {
  if (isa<AllToAllVStartOp>(op))
    return AllToAllVOp::getOperationName();
  return op->getName().getStringRef();
}

namespace {
/// What the members of an all_to_all_v (either form) must agree on.
struct AllToAllVView {
  RankedTensorType input, sendCounts;
  int64_t capacity;
};
} // namespace

static AllToAllVView viewAllToAllV(Operation *op) {
  if (auto started = dyn_cast<AllToAllVStartOp>(op))
    return {cast<RankedTensorType>(started.getInput().getType()),
            cast<RankedTensorType>(started.getSendCounts().getType()),
            cast<RankedTensorType>(started.getOutputType()).getDimSize(0)};
  auto blocking = cast<AllToAllVOp>(op);
  return {cast<RankedTensorType>(blocking.getInput().getType()),
          cast<RankedTensorType>(blocking.getSendCounts().getType()),
          blocking.getOutput().getType().getDimSize(0)};
}

static std::optional<int64_t> asInteger(Attribute attr) {
  auto integer = dyn_cast_or_null<IntegerAttr>(attr);
  if (!integer)
    return std::nullopt;
  if (integer.getType().isInteger(1))
    return int64_t(integer.getValue().getZExtValue());
  if (integer.getValue().getBitWidth() > 64)
    return std::nullopt;
  return integer.getValue().getSExtValue();
}

namespace {

/// A collective one rank issues.
struct Event {
  Operation *op;
  uint64_t axisMask; // the group's axes as a set
  int64_t groupBase; // the rank with its group coordinates zeroed
  int64_t peer;      // send/recv: the peer's rank; else -1
};

/// The grid under analysis and its rank numbering (row-major, the last axis
/// fastest, as shard.process_linear_index).
struct Grid {
  shard::GridOp op;
  StringRef name;
  SmallVector<int64_t> shape;
  int64_t size = 1;

  SmallVector<int64_t> coordinates(int64_t rank) const {
    SmallVector<int64_t> coords(shape.size());
    for (int64_t axis = int64_t(shape.size()) - 1; axis >= 0; --axis) {
      coords[axis] = rank % shape[axis];
      rank /= shape[axis];
    }
    return coords;
  }
  int64_t linear(ArrayRef<int64_t> coords) const {
    int64_t rank = 0;
    for (auto [coord, extent] : llvm::zip(coords, shape))
      rank = rank * extent + coord;
    return rank;
  }
  std::string describe(int64_t rank) const {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << "rank " << rank << " (coordinates [";
    llvm::interleaveComma(coordinates(rank), os);
    os << "])";
    return text;
  }
};

/// How a region was left: the values of its terminator's operands (null
/// where unknown), or `known = false` when control left through a branch
/// the evaluation could not decide.
struct RegionExit {
  bool known = true;
  SmallVector<Attribute> values;
};

/// State shared by the evaluations of one function over one grid.
struct Analysis {
  Analysis(SymbolTableCollection &symbols, int64_t maxSteps)
      : symbols(symbols), maxSteps(maxSteps) {}

  SymbolTableCollection &symbols;
  Grid grid;
  int64_t maxSteps;
  DenseMap<Operation *, bool> hasCollectivesMemo;
  bool failed = false;

  /// Whether `root`'s regions (calls followed) issue collectives over the
  /// grid.
  bool hasCollectives(Operation *root);
  /// Whether `op` is a collective over the grid.
  bool isOnGrid(Operation *op) {
    std::optional<std::pair<FlatSymbolRefAttr, ArrayRef<int16_t>>> group =
        collectiveGroup(op);
    if (!group)
      return false;
    return symbols.lookupNearestSymbolFrom<shard::GridOp>(op, group->first) ==
           grid.op;
  }
};

/// Evaluates one function for one rank, recording its collectives.
class RankEvaluator {
public:
  RankEvaluator(Analysis &analysis, int64_t rank)
      : analysis(analysis), grid(analysis.grid), rank(rank),
        coords(grid.coordinates(rank)) {}

  LogicalResult evaluate(FunctionOpInterface function);
  SmallVector<Event> events;

private:
  using Env = DenseMap<Value, Attribute>;

  LogicalResult runRegion(Region &region, ArrayRef<Attribute> args, Env &env,
                          RegionExit &exit);
  LogicalResult runOp(Operation *op, Env &env);
  LogicalResult runIf(scf::IfOp op, Env &env);
  LogicalResult runFor(scf::ForOp op, Env &env);
  LogicalResult runWhile(scf::WhileOp op, Env &env);
  LogicalResult runSwitch(scf::IndexSwitchOp op, Env &env);
  LogicalResult runCall(CallOpInterface call, Env &env);
  void fold(Operation *op, Env &env);
  void recordCollective(Operation *op);
  LogicalResult step(Operation *op);

  /// Reports a collective the evaluation cannot place; once per analysis.
  LogicalResult cannotProve(Operation *op, const Twine &why);

  static Attribute lookup(Env &env, Value value) { return env.lookup(value); }
  static void setUnknown(Env &env, ValueRange values) {
    for (Value value : values)
      env[value] = Attribute();
  }
  static void assign(Env &env, ValueRange values, const RegionExit &exit) {
    for (auto [index, value] : llvm::enumerate(values))
      env[value] = exit.known && index < exit.values.size()
                       ? exit.values[index]
                       : Attribute();
  }
  Attribute indexAttr(Type type, int64_t value) {
    return IntegerAttr::get(type, value);
  }

  Analysis &analysis;
  const Grid &grid;
  int64_t rank;
  SmallVector<int64_t> coords;
  int64_t steps = 0;
  int64_t depth = 0;
};

} // namespace

bool Analysis::hasCollectives(Operation *root) {
  auto it = hasCollectivesMemo.find(root);
  if (it != hasCollectivesMemo.end())
    return it->second;
  hasCollectivesMemo[root] = false; // breaks cycles of calls
  bool found = false;
  for (Region &region : root->getRegions()) {
    region.walk([&](Operation *op) {
      if (isOnGrid(op)) {
        found = true;
        return WalkResult::interrupt();
      }
      if (auto call = dyn_cast<CallOpInterface>(op))
        if (Operation *callee = call.resolveCallableInTable(&symbols))
          if (hasCollectives(callee)) {
            found = true;
            return WalkResult::interrupt();
          }
      return WalkResult::advance();
    });
    if (found)
      break;
  }
  hasCollectivesMemo[root] = found;
  return found;
}

LogicalResult RankEvaluator::cannotProve(Operation *op, const Twine &why) {
  if (!analysis.failed)
    op->emitOpError() << "cannot prove that the ranks of @"
                      << grid.name
                      << " issue matching collectives: " << why;
  analysis.failed = true;
  return failure();
}

LogicalResult RankEvaluator::step(Operation *op) {
  if (++steps <= analysis.maxSteps)
    return success();
  return cannotProve(op, "evaluating " + grid.describe(rank) +
                             " takes more than max-steps (" +
                             Twine(analysis.maxSteps) +
                             ") operations (a loop too long to unroll?)");
}

LogicalResult RankEvaluator::evaluate(FunctionOpInterface function) {
  Env env;
  RegionExit exit;
  Region &body = function.getFunctionBody();
  SmallVector<Attribute> args(body.getNumArguments(), Attribute());
  return runRegion(body, args, env, exit);
}

LogicalResult RankEvaluator::runRegion(Region &region,
                                       ArrayRef<Attribute> args, Env &env,
                                       RegionExit &exit) {
  Block *block = &region.front();
  SmallVector<Attribute> blockArgs(args);
  while (true) {
    for (auto [arg, value] : llvm::zip(block->getArguments(), blockArgs))
      env[arg] = value;
    for (Operation &op : block->without_terminator())
      if (failed(runOp(&op, env)))
        return failure();
    Operation *terminator = block->getTerminator();
    if (failed(step(terminator)))
      return failure();
    if (terminator->getNumSuccessors() == 0) {
      exit.known = true;
      exit.values.clear();
      for (Value operand : terminator->getOperands())
        exit.values.push_back(lookup(env, operand));
      return success();
    }
    std::optional<unsigned> successor;
    if (isa<cf::BranchOp>(terminator)) {
      successor = 0;
    } else if (auto branch = dyn_cast<cf::CondBranchOp>(terminator)) {
      if (std::optional<int64_t> cond =
              asInteger(lookup(env, branch.getCondition())))
        successor = *cond ? 0 : 1;
    } else if (auto branch = dyn_cast<cf::SwitchOp>(terminator)) {
      if (std::optional<int64_t> flag =
              asInteger(lookup(env, branch.getFlag()))) {
        successor = 0; // the default destination
        if (std::optional<DenseIntElementsAttr> cases = branch.getCaseValues())
          for (auto [index, value] : llvm::enumerate(cases->getValues<APInt>()))
            if (value.getSExtValue() == *flag)
              successor = index + 1;
      }
    }
    auto branchOp = dyn_cast<BranchOpInterface>(terminator);
    if (!successor || !branchOp ||
        branchOp.getSuccessorOperands(*successor).getProducedOperandCount()) {
      if (analysis.hasCollectives(region.getParentOp()))
        return cannotProve(terminator,
                           "the successor of this branch is not a compile-time "
                           "constant on " +
                               grid.describe(rank) +
                               ", and the region issues collectives over @" +
                               grid.name);
      exit.known = false;
      return success();
    }
    blockArgs.clear();
    for (Value operand :
         branchOp.getSuccessorOperands(*successor).getForwardedOperands())
      blockArgs.push_back(lookup(env, operand));
    block = terminator->getSuccessor(*successor);
  }
}

void RankEvaluator::recordCollective(Operation *op) {
  ArrayRef<int16_t> axes = collectiveGroup(op)->second;
  uint64_t mask = 0;
  SmallVector<int64_t> base(coords);
  int64_t index = 0, size = 1;
  for (int16_t axis : axes) {
    mask |= uint64_t(1) << axis;
    base[axis] = 0;
    index = index * grid.shape[axis] + coords[axis];
    size *= grid.shape[axis];
  }
  int64_t peer = -1;
  std::optional<std::pair<int64_t, bool>> target =
      llvm::TypeSwitch<Operation *, std::optional<std::pair<int64_t, bool>>>(op)
          .Case<SendOp, RecvOp>([](auto p2p) {
            return std::make_pair(int64_t(p2p.getPeer()), p2p.getRelative());
          })
          .Default([](Operation *) { return std::nullopt; });
  if (target) {
    int64_t member = target->second
                         ? ((index + target->first) % size + size) % size
                         : target->first;
    SmallVector<int64_t> peerCoords(coords);
    for (int16_t axis : llvm::reverse(axes)) {
      peerCoords[axis] = member % grid.shape[axis];
      member /= grid.shape[axis];
    }
    peer = grid.linear(peerCoords);
  }
  events.push_back({op, mask, grid.linear(base), peer});
}

LogicalResult RankEvaluator::runOp(Operation *op, Env &env) {
  if (failed(step(op)))
    return failure();
  if (collectiveGroup(op)) {
    if (analysis.isOnGrid(op))
      recordCollective(op);
    setUnknown(env, op->getResults());
    return success();
  }
  if (auto index = dyn_cast<shard::ProcessMultiIndexOp>(op)) {
    if (analysis.symbols.lookupNearestSymbolFrom<shard::GridOp>(
            op, index.getGridAttr()) != grid.op) {
      setUnknown(env, op->getResults());
      return success();
    }
    ArrayRef<int16_t> axes = index.getAxes();
    for (auto [i, result] : llvm::enumerate(op->getResults())) {
      int64_t axis = axes.empty() ? int64_t(i) : axes[i];
      env[result] = axis < int64_t(coords.size())
                        ? indexAttr(result.getType(), coords[axis])
                        : Attribute();
    }
    return success();
  }
  if (auto index = dyn_cast<shard::ProcessLinearIndexOp>(op)) {
    bool same = analysis.symbols.lookupNearestSymbolFrom<shard::GridOp>(
                    op, index.getGridAttr()) == grid.op;
    env[index.getResult()] =
        same ? indexAttr(index.getType(), rank) : Attribute();
    return success();
  }
  if (auto shape = dyn_cast<shard::GridShapeOp>(op)) {
    auto gridOp = analysis.symbols.lookupNearestSymbolFrom<shard::GridOp>(
        op, shape.getGridAttr());
    ArrayRef<int16_t> axes = shape.getAxes();
    for (auto [i, result] : llvm::enumerate(op->getResults())) {
      int64_t axis = axes.empty() ? int64_t(i) : axes[i];
      Attribute value;
      if (gridOp && axis < int64_t(gridOp.getShape().size()) &&
          !ShapedType::isDynamic(gridOp.getShape()[axis]))
        value = indexAttr(result.getType(), gridOp.getShape()[axis]);
      env[result] = value;
    }
    return success();
  }
  if (auto ifOp = dyn_cast<scf::IfOp>(op))
    return runIf(ifOp, env);
  if (auto forOp = dyn_cast<scf::ForOp>(op))
    return runFor(forOp, env);
  if (auto whileOp = dyn_cast<scf::WhileOp>(op))
    return runWhile(whileOp, env);
  if (auto switchOp = dyn_cast<scf::IndexSwitchOp>(op))
    return runSwitch(switchOp, env);
  if (auto region = dyn_cast<scf::ExecuteRegionOp>(op)) {
    RegionExit exit;
    if (failed(runRegion(region.getRegion(), {}, env, exit)))
      return failure();
    assign(env, op->getResults(), exit);
    return success();
  }
  if (auto call = dyn_cast<CallOpInterface>(op))
    return runCall(call, env);
  if (auto select = dyn_cast<arith::SelectOp>(op)) {
    if (std::optional<int64_t> cond =
            asInteger(lookup(env, select.getCondition()))) {
      env[select.getResult()] = lookup(
          env, *cond ? select.getTrueValue() : select.getFalseValue());
      return success();
    }
  }
  if (op->getNumRegions() > 0) {
    if (analysis.hasCollectives(op))
      return cannotProve(op, "this op issues collectives over @" +
                                 grid.name +
                                 " in regions the verifier does not model");
    setUnknown(env, op->getResults());
    return success();
  }
  fold(op, env);
  return success();
}

/// Folds a side-effect-free op whose operands are all known, on a detached
/// clone so that in-place folds leave the IR alone.
void RankEvaluator::fold(Operation *op, Env &env) {
  setUnknown(env, op->getResults());
  if (op->getNumResults() == 0 || !isMemoryEffectFree(op))
    return;
  SmallVector<Attribute> operands;
  for (Value operand : op->getOperands()) {
    Attribute value = lookup(env, operand);
    if (!value)
      return;
    operands.push_back(value);
  }
  Operation *clone = op->cloneWithoutRegions();
  SmallVector<OpFoldResult> folded;
  if (succeeded(clone->fold(operands, folded)) &&
      folded.size() == op->getNumResults()) {
    for (auto [result, value] : llvm::zip(op->getResults(), folded)) {
      if (auto attr = dyn_cast<Attribute>(value)) {
        env[result] = attr;
        continue;
      }
      // A folder that forwards an operand.
      Value forwarded = cast<Value>(value);
      for (auto [operand, attr] : llvm::zip(clone->getOperands(), operands))
        if (operand == forwarded)
          env[result] = attr;
    }
  }
  clone->erase();
}

LogicalResult RankEvaluator::runIf(scf::IfOp op, Env &env) {
  std::optional<int64_t> cond = asInteger(lookup(env, op.getCondition()));
  if (!cond) {
    if (analysis.hasCollectives(op))
      return cannotProve(op, "the condition of this branch is not a "
                             "compile-time constant on " +
                                 grid.describe(rank) +
                                 ", and a branch issues collectives over @" +
                                 grid.name);
    setUnknown(env, op.getResults());
    return success();
  }
  Region &region = *cond ? op.getThenRegion() : op.getElseRegion();
  if (region.empty())
    return success();
  RegionExit exit;
  if (failed(runRegion(region, {}, env, exit)))
    return failure();
  assign(env, op.getResults(), exit);
  return success();
}

LogicalResult RankEvaluator::runFor(scf::ForOp op, Env &env) {
  std::optional<int64_t> lower = asInteger(lookup(env, op.getLowerBound()));
  std::optional<int64_t> upper = asInteger(lookup(env, op.getUpperBound()));
  std::optional<int64_t> stride = asInteger(lookup(env, op.getStep()));
  if (!lower || !upper || !stride || *stride <= 0 ||
      (op.getUnsignedCmp() && (*lower < 0 || *upper < 0))) {
    if (analysis.hasCollectives(op))
      return cannotProve(op, "the trip count of this loop is not a "
                             "compile-time constant on " +
                                 grid.describe(rank) +
                                 ", and its body issues collectives over @" +
                                 grid.name);
    setUnknown(env, op.getResults());
    return success();
  }
  RegionExit carried;
  for (Value init : op.getInitArgs())
    carried.values.push_back(lookup(env, init));
  Type ivType = op.getInductionVar().getType();
  for (int64_t iv = *lower; iv < *upper;) {
    SmallVector<Attribute> args{indexAttr(ivType, iv)};
    args.append(carried.values.begin(), carried.values.end());
    RegionExit exit;
    if (failed(runRegion(op.getRegion(), args, env, exit)))
      return failure();
    carried.values = exit.values;
    if (llvm::AddOverflow(iv, *stride, iv))
      break;
  }
  assign(env, op.getResults(), carried);
  return success();
}

LogicalResult RankEvaluator::runWhile(scf::WhileOp op, Env &env) {
  SmallVector<Attribute> args;
  for (Value init : op.getInits())
    args.push_back(lookup(env, init));
  while (true) {
    RegionExit before;
    if (failed(runRegion(op.getBefore(), args, env, before)))
      return failure();
    std::optional<int64_t> cond =
        before.values.empty() ? std::nullopt : asInteger(before.values[0]);
    if (!cond) {
      if (analysis.hasCollectives(op))
        return cannotProve(op, "the condition of this loop is not a "
                               "compile-time constant on " +
                                   grid.describe(rank) +
                                   ", and the loop issues collectives over @" +
                                   grid.name);
      setUnknown(env, op.getResults());
      return success();
    }
    SmallVector<Attribute> forwarded(before.values.begin() + 1,
                                     before.values.end());
    if (!*cond) {
      RegionExit exit{true, forwarded};
      assign(env, op.getResults(), exit);
      return success();
    }
    RegionExit after;
    if (failed(runRegion(op.getAfter(), forwarded, env, after)))
      return failure();
    args = after.values;
  }
}

LogicalResult RankEvaluator::runSwitch(scf::IndexSwitchOp op, Env &env) {
  std::optional<int64_t> value = asInteger(lookup(env, op.getArg()));
  if (!value) {
    if (analysis.hasCollectives(op))
      return cannotProve(op, "the value this op switches on is not a "
                             "compile-time constant on " +
                                 grid.describe(rank) +
                                 ", and a case issues collectives over @" +
                                 grid.name);
    setUnknown(env, op.getResults());
    return success();
  }
  Region *region = &op.getDefaultRegion();
  for (auto [index, caseValue] : llvm::enumerate(op.getCases()))
    if (caseValue == *value)
      region = &op.getCaseRegions()[index];
  RegionExit exit;
  if (failed(runRegion(*region, {}, env, exit)))
    return failure();
  assign(env, op.getResults(), exit);
  return success();
}

LogicalResult RankEvaluator::runCall(CallOpInterface call, Env &env) {
  Operation *op = call;
  auto callee = dyn_cast_or_null<FunctionOpInterface>(
      call.resolveCallableInTable(&analysis.symbols));
  if (!callee || callee.isExternal()) {
    setUnknown(env, op->getResults());
    return success();
  }
  if (depth >= kMaxCallDepth) {
    if (analysis.hasCollectives(callee))
      return cannotProve(op, "calls nest deeper than " + Twine(kMaxCallDepth) +
                                 " on " + grid.describe(rank) +
                                 " (recursion?), and the callee issues "
                                 "collectives over @" +
                                 grid.name);
    setUnknown(env, op->getResults());
    return success();
  }
  SmallVector<Attribute> args;
  for (Value operand : call.getArgOperands())
    args.push_back(lookup(env, operand));
  Env calleeEnv;
  RegionExit exit;
  ++depth;
  LogicalResult result =
      runRegion(callee.getFunctionBody(), args, calleeEnv, exit);
  --depth;
  if (failed(result))
    return failure();
  assign(env, op->getResults(), exit);
  return success();
}

//===----------------------------------------------------------------------===//
// Comparing the ranks' sequences
//===----------------------------------------------------------------------===//

namespace {
/// Compares the sequences of all ranks of one grid and reports mismatches.
class SequenceChecker {
public:
  SequenceChecker(const Grid &grid, ArrayRef<SmallVector<Event>> sequences)
      : grid(grid), sequences(sequences) {}

  /// Returns failure after reporting at least one mismatch.
  LogicalResult check() {
    checkCollectives();
    checkPointToPoint();
    if (!failedCheck)
      checkProgress();
    return failure(failedCheck);
  }

private:
  void checkCollectives();
  void checkPointToPoint();
  void checkProgress();
  std::optional<std::string> difference(Operation *here, Operation *there,
                                        int64_t thereRank);
  SmallVector<int64_t> members(uint64_t mask, int64_t base) const;
  std::string groupName(Operation *op) const;
  bool firstReport(Operation *a, Operation *b, unsigned what) {
    return reported.insert({a, b, what}).second;
  }

  const Grid &grid;
  ArrayRef<SmallVector<Event>> sequences;
  std::set<std::tuple<Operation *, Operation *, unsigned>> reported;
  bool failedCheck = false;
};
} // namespace

SmallVector<int64_t> SequenceChecker::members(uint64_t mask,
                                              int64_t base) const {
  SmallVector<int64_t> result{base};
  SmallVector<int64_t> coords = grid.coordinates(base);
  for (int64_t axis = 0, e = grid.shape.size(); axis < e; ++axis) {
    if (!(mask & (uint64_t(1) << axis)))
      continue;
    SmallVector<int64_t> grown;
    for (int64_t member : result) {
      SmallVector<int64_t> c = grid.coordinates(member);
      for (int64_t v = 0; v < grid.shape[axis]; ++v) {
        c[axis] = v;
        grown.push_back(grid.linear(c));
      }
    }
    result = std::move(grown);
  }
  llvm::sort(result);
  return result;
}

std::string SequenceChecker::groupName(Operation *op) const {
  std::string text;
  llvm::raw_string_ostream os(text);
  auto group = *collectiveGroup(op);
  os << "group " << group.first << " axes [";
  llvm::interleaveComma(group.second, os);
  os << "]";
  return text;
}

/// What differs between the collective `here` and `there` (on `thereRank`)
/// that every member must agree on, or nothing.
std::optional<std::string>
SequenceChecker::difference(Operation *here, Operation *there,
                            int64_t thereRank) {
  std::string text;
  llvm::raw_string_ostream os(text);
  std::string onThere = "on rank " + std::to_string(thereRank);
  if (issuedName(here) != issuedName(there)) {
    os << "this is '" << here->getName() << "', rank " << thereRank
       << " issues '" << there->getName() << "'";
    return text;
  }
  if (collectiveGroup(here)->second != collectiveGroup(there)->second) {
    os << "the group's axes are listed as [";
    llvm::interleaveComma(collectiveGroup(here)->second, os);
    os << "] here, [";
    llvm::interleaveComma(collectiveGroup(there)->second, os);
    os << "] " << onThere << " (member indices would differ)";
    return text;
  }
  auto typeOf = [](Value value) {
    return cast<RankedTensorType>(value.getType());
  };
  // Static dimensions that differ (dynamic ones are the runtime's to check).
  auto shapesDiffer = [](RankedTensorType a, RankedTensorType b,
                         int64_t from) {
    if (a.getElementType() != b.getElementType() || a.getRank() != b.getRank())
      return true;
    for (int64_t d = from; d < a.getRank(); ++d)
      if (!ShapedType::isDynamic(a.getDimSize(d)) &&
          !ShapedType::isDynamic(b.getDimSize(d)) &&
          a.getDimSize(d) != b.getDimSize(d))
        return true;
    return false;
  };
  auto typeDifference = [&](StringRef what, RankedTensorType a,
                            RankedTensorType b, int64_t from) {
    if (!shapesDiffer(a, b, from))
      return false;
    os << what << " is '" << a << "' here, '" << b << "' " << onThere;
    return true;
  };
  auto valueDifference = [&](StringRef what, auto a, auto b) {
    if (a == b)
      return false;
    os << what << " is " << a << " here, " << b << " " << onThere;
    return true;
  };
  bool differs =
      llvm::TypeSwitch<Operation *, bool>(here)
          .Case<AllToAllVOp, AllToAllVStartOp>([&](Operation *) {
            AllToAllVView a = viewAllToAllV(here), b = viewAllToAllV(there);
            if (typeDifference("'input' (compared on its trailing dimensions)",
                               a.input, b.input, 1))
              return true;
            if (typeDifference("'send_counts'", a.sendCounts, b.sendCounts, 0))
              return true;
            int64_t capA = a.capacity, capB = b.capacity;
            if (capA == capB)
              return false;
            os << "the receive capacity is " << capA << " rows here, " << capB
               << " " << onThere;
            return true;
          })
          .Case<AllGatherOp>([&](AllGatherOp a) {
            auto b = cast<AllGatherOp>(there);
            return valueDifference("'dim'", a.getDim(), b.getDim()) ||
                   typeDifference("'input'", typeOf(a.getInput()),
                                  typeOf(b.getInput()), 0);
          })
          .Case<ReduceScatterOp>([&](ReduceScatterOp a) {
            auto b = cast<ReduceScatterOp>(there);
            return valueDifference("'dim'", a.getDim(), b.getDim()) ||
                   valueDifference(
                       "the reduction",
                       stringifyReduction(a.getReductionAttr().getValue()),
                       stringifyReduction(b.getReductionAttr().getValue())) ||
                   typeDifference("'input'", typeOf(a.getInput()),
                                  typeOf(b.getInput()), 0);
          })
          .Case<AllReduceOp>([&](AllReduceOp a) {
            auto b = cast<AllReduceOp>(there);
            return valueDifference(
                       "the reduction",
                       stringifyReduction(a.getReductionAttr().getValue()),
                       stringifyReduction(b.getReductionAttr().getValue())) ||
                   typeDifference("'input'", typeOf(a.getInput()),
                                  typeOf(b.getInput()), 0);
          })
          .Default([](Operation *) { return false; });
  if (!differs)
    return std::nullopt;
  return text;
}

void SequenceChecker::checkCollectives() {
  // Every (axis set, group) instance, in a fixed order.
  std::set<std::pair<uint64_t, int64_t>> groups;
  for (const SmallVector<Event> &sequence : sequences)
    for (const Event &event : sequence)
      if (!isPointToPoint(event.op))
        groups.insert({event.axisMask, event.groupBase});
  auto project = [&](int64_t rank, uint64_t mask) {
    SmallVector<Operation *> ops;
    for (const Event &event : sequences[rank])
      if (!isPointToPoint(event.op) && event.axisMask == mask)
        ops.push_back(event.op);
    return ops;
  };
  for (auto [mask, base] : groups) {
    SmallVector<int64_t> ranks = members(mask, base);
    int64_t reference = ranks.front();
    SmallVector<Operation *> expected = project(reference, mask);
    for (int64_t member : llvm::drop_begin(ranks)) {
      SmallVector<Operation *> actual = project(member, mask);
      size_t common = std::min(expected.size(), actual.size());
      size_t k = 0;
      for (; k < common; ++k) {
        std::optional<std::string> why =
            difference(actual[k], expected[k], reference);
        if (!why)
          continue;
        failedCheck = true;
        if (firstReport(actual[k], expected[k], 0)) {
          InFlightDiagnostic diag = actual[k]->emitOpError();
          diag << grid.describe(member) << " and " << grid.describe(reference)
               << " disagree on their collective #" << k << " over "
               << groupName(actual[k]) << ": " << *why;
          diag.attachNote(expected[k]->getLoc())
              << grid.describe(reference) << " issues this collective";
        }
        break;
      }
      if (k < common || expected.size() == actual.size())
        continue;
      failedCheck = true;
      bool memberLonger = actual.size() > expected.size();
      Operation *extra = memberLonger ? actual[common] : expected[common];
      int64_t longer = memberLonger ? member : reference;
      int64_t shorter = memberLonger ? reference : member;
      if (firstReport(extra, nullptr, 1))
        extra->emitOpError()
            << grid.describe(longer) << " issues this collective as its #"
            << common << " over " << groupName(extra) << ", but "
            << grid.describe(shorter) << " issues only " << common
            << " collective(s) over that group";
    }
  }
}

void SequenceChecker::checkPointToPoint() {
  // (axis set, group, sender, receiver) -> the sends / receives in order.
  using Channel = std::tuple<uint64_t, int64_t, int64_t, int64_t>;
  std::map<Channel, SmallVector<Operation *>> sends, receives;
  for (auto [rank, sequence] : llvm::enumerate(sequences)) {
    for (const Event &event : sequence) {
      if (isa<SendOp>(event.op))
        sends[{event.axisMask, event.groupBase, int64_t(rank), event.peer}]
            .push_back(event.op);
      else if (isa<RecvOp>(event.op))
        receives[{event.axisMask, event.groupBase, event.peer, int64_t(rank)}]
            .push_back(event.op);
    }
  }
  std::set<Channel> channels;
  for (auto &entry : sends)
    channels.insert(entry.first);
  for (auto &entry : receives)
    channels.insert(entry.first);
  for (const Channel &channel : channels) {
    auto [mask, base, from, to] = channel;
    ArrayRef<Operation *> sent = sends[channel], received = receives[channel];
    size_t common = std::min(sent.size(), received.size());
    for (size_t k = 0; k < common; ++k) {
      Type sentType = sent[k]->getOperand(0).getType();
      Type receivedType = received[k]->getResult(0).getType();
      if (sentType == receivedType)
        continue;
      failedCheck = true;
      if (firstReport(received[k], sent[k], 2)) {
        InFlightDiagnostic diag = received[k]->emitOpError();
        diag << grid.describe(to) << " receives " << receivedType
             << " as message #" << k << " from " << grid.describe(from)
             << " over " << groupName(received[k]) << ", which sends "
             << sentType;
        diag.attachNote(sent[k]->getLoc())
            << grid.describe(from) << " sends it here";
      }
    }
    if (sent.size() == received.size())
      continue;
    failedCheck = true;
    if (sent.size() > received.size()) {
      if (firstReport(sent[common], nullptr, 3))
        sent[common]->emitOpError()
            << grid.describe(from) << " sends message #" << common << " to "
            << grid.describe(to) << " over " << groupName(sent[common])
            << ", but that rank posts only " << common
            << " matching receive(s)";
    } else if (firstReport(received[common], nullptr, 4)) {
      received[common]->emitOpError()
          << grid.describe(to) << " waits for message #" << common << " from "
          << grid.describe(from) << " over " << groupName(received[common])
          << ", but that rank sends only " << common << " message(s)";
    }
  }
}

/// Replays the sequences: a collective completes once every member of its
/// group has reached it, a receive once its message was sent (sends are
/// buffered). Reports where the replay gets stuck.
void SequenceChecker::checkProgress() {
  int64_t ranks = sequences.size();
  SmallVector<size_t> next(ranks, 0);
  using Channel = std::tuple<uint64_t, int64_t, int64_t, int64_t>;
  std::map<Channel, int64_t> pending;
  std::map<std::pair<uint64_t, int64_t>, SmallVector<int64_t>> memberCache;
  auto groupMembers = [&](const Event &event) -> ArrayRef<int64_t> {
    auto key = std::make_pair(event.axisMask, event.groupBase);
    auto it = memberCache.find(key);
    if (it == memberCache.end())
      it = memberCache.emplace(key, members(event.axisMask, event.groupBase))
               .first;
    return it->second;
  };
  auto waitingAt = [&](int64_t rank) -> const Event * {
    if (next[rank] >= sequences[rank].size())
      return nullptr;
    return &sequences[rank][next[rank]];
  };
  bool progress = true;
  while (progress) {
    progress = false;
    for (int64_t rank = 0; rank < ranks; ++rank) {
      while (const Event *event = waitingAt(rank)) {
        if (isa<SendOp>(event->op)) {
          ++pending[{event->axisMask, event->groupBase, rank, event->peer}];
        } else if (isa<RecvOp>(event->op)) {
          int64_t &count =
              pending[{event->axisMask, event->groupBase, event->peer, rank}];
          if (count == 0)
            break;
          --count;
        } else {
          ArrayRef<int64_t> group = groupMembers(*event);
          bool ready = llvm::all_of(group, [&](int64_t member) {
            const Event *other = waitingAt(member);
            return other && !isPointToPoint(other->op) &&
                   other->axisMask == event->axisMask;
          });
          if (!ready)
            break;
          for (int64_t member : group)
            if (member != rank)
              ++next[member];
        }
        ++next[rank];
        progress = true;
      }
    }
  }
  for (int64_t rank = 0; rank < ranks; ++rank) {
    const Event *event = waitingAt(rank);
    if (!event)
      continue;
    // Whom this rank waits for: the sender, or the first member of its
    // group not at this collective.
    int64_t other = event->peer;
    if (!isPointToPoint(event->op))
      for (int64_t member : groupMembers(*event)) {
        const Event *there = waitingAt(member);
        if (!there || isPointToPoint(there->op) ||
            there->axisMask != event->axisMask) {
          other = member;
          break;
        }
      }
    failedCheck = true;
    InFlightDiagnostic diag = event->op->emitOpError();
    diag << "the ranks of @" << grid.name
         << " can deadlock: " << grid.describe(rank) << " waits here for "
         << grid.describe(other);
    if (const Event *there = waitingAt(other)) {
      diag << ", which waits for another collective first";
      diag.attachNote(there->op->getLoc())
          << grid.describe(other) << " waits here";
    } else {
      diag << ", which has finished";
    }
    return;
  }
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct MoEFlowVerifyCollectivesPass
    : mlir::moeflow::impl::MoEFlowVerifyCollectivesBase<
          MoEFlowVerifyCollectivesPass> {
  using MoEFlowVerifyCollectivesBase::MoEFlowVerifyCollectivesBase;
  void runOnOperation() override;

private:
  LogicalResult verifyFunction(FunctionOpInterface function,
                               SymbolTableCollection &symbols);
};
} // namespace

LogicalResult
MoEFlowVerifyCollectivesPass::verifyFunction(FunctionOpInterface function,
                                             SymbolTableCollection &symbols) {
  // The grids the function's collectives name (calls followed), in order of
  // first use.
  SmallVector<std::pair<shard::GridOp, Operation *>> grids;
  DenseSet<Operation *> visited;
  std::function<void(Operation *)> collect = [&](Operation *root) {
    if (!visited.insert(root).second)
      return;
    root->walk([&](Operation *op) {
      if (auto group = collectiveGroup(op)) {
        auto grid =
            symbols.lookupNearestSymbolFrom<shard::GridOp>(op, group->first);
        if (grid && llvm::none_of(grids, [&](auto &entry) {
              return entry.first == grid;
            }))
          grids.push_back({grid, op});
      } else if (auto call = dyn_cast<CallOpInterface>(op)) {
        if (Operation *callee = call.resolveCallableInTable(&symbols))
          collect(callee);
      }
    });
  };
  collect(function);

  bool failedAny = false;
  for (auto [gridOp, firstUse] : grids) {
    Analysis analysis(symbols, maxSteps);
    Grid &grid = analysis.grid;
    grid.op = gridOp;
    grid.name = gridOp.getSymName();
    for (int64_t extent : gridOp.getShape()) {
      if (ShapedType::isDynamic(extent)) {
        firstUse->emitOpError()
            << "cannot prove that the ranks of @" << gridOp.getSymName()
            << " issue matching collectives: the grid has a dynamic shape";
        failedAny = true;
        grid.size = -1;
        break;
      }
      grid.shape.push_back(extent);
      grid.size *= extent;
      if (grid.size > kMaxRanks) {
        firstUse->emitOpError()
            << "cannot prove that the ranks of @" << gridOp.getSymName()
            << " issue matching collectives: the grid has more than "
            << kMaxRanks << " ranks";
        failedAny = true;
        grid.size = -1;
        break;
      }
    }
    if (grid.size < 0)
      continue;
    SmallVector<SmallVector<Event>> sequences;
    for (int64_t rank = 0; rank < grid.size; ++rank) {
      RankEvaluator evaluator(analysis, rank);
      if (failed(evaluator.evaluate(function)))
        break;
      sequences.push_back(std::move(evaluator.events));
    }
    if (analysis.failed) {
      failedAny = true;
      continue;
    }
    if (failed(SequenceChecker(grid, sequences).check()))
      failedAny = true;
  }
  return failure(failedAny);
}

void MoEFlowVerifyCollectivesPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (maxSteps < 1) {
    module.emitError() << "moeflow-verify-collectives option max-steps must "
                          "be positive, got "
                       << int64_t(maxSteps);
    return signalPassFailure();
  }
  SymbolTableCollection symbols;
  // Callees are analysed at their calls, in their callers' context.
  DenseSet<Operation *> called;
  module.walk([&](CallOpInterface call) {
    if (Operation *callee = call.resolveCallableInTable(&symbols))
      called.insert(callee);
  });
  bool failedAny = false;
  module.walk([&](FunctionOpInterface function) {
    if (function.isExternal() || called.contains(function))
      return;
    if (failed(verifyFunction(function, symbols)))
      failedAny = true;
  });
  markAllAnalysesPreserved();
  if (failedAny)
    signalPassFailure();
}
