//===- Shard.cpp - moe-shard ----------------------------------------------===//
//
// Applies the MoE half of the module's `#moe.parallel` plan: every public
// function holding moe.layer / moe.chain ops becomes the program of one rank
// of `shard.grid @moe_grid(shape = EDPxEPxETP)` (docs/multi-rank.md §2):
// local argument and result types with `moe.split_axes`, experts partitioned
// over EP ranks (optionally after `moe.expert_permutation`), each expert's
// FFN split over ETP ranks, dispatch and combine through ragged
// `moeflow.all_to_all_v`, ETP partial sums through `moeflow.all_reduce`.
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEOps.h"
#include "moe/IR/MoEShapes.h"
#include "ExpertExchange.h"
#include "moe/Transforms/Passes.h"
#include "moeflow/IR/MoEFlowOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOESHARD
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

/// Grid axes of docs/multi-rank.md §1.
static constexpr int16_t kEdpAxis = 0, kEpAxis = 1, kEtpAxis = 2;
static constexpr StringLiteral kGridName = "moe_grid";
static constexpr StringLiteral kSplitAxesAttr = "moe.split_axes";
static constexpr StringLiteral kPermutationAttr = "moe.expert_permutation";

namespace {

/// The MoE degrees of the plan.
struct Degrees {
  int64_t etp = 1, ep = 1, edp = 1;
  int64_t world() const { return etp * ep * edp; }
  int64_t tokenSplit() const { return ep * edp; }
};

/// How one function argument is split: per dimension the grid axes it is cut
/// over (empty: whole), plus the expert permutation applied first.
struct ArgumentSplit {
  StringRef role;
  SmallVector<SmallVector<int16_t>> axes;
  DenseI64ArrayAttr permutation;

  bool operator==(const ArgumentSplit &other) const {
    return axes == other.axes && permutation == other.permutation;
  }
};

/// The values of one whole MoE block (moe.layer or moe.chain).
struct BlockOperands {
  Operation *op;
  Value tokens, router, bias, gate, up, down, sharedGate, sharedUp, sharedDown,
      sharedSigmoidGate, constantVectors, constantMix;
  WeightLayout layout;
  std::optional<uint64_t> capacity;

  template <typename BlockOp>
  static BlockOperands of(BlockOp op) {
    BlockOperands block;
    block.op = op;
    block.tokens = op.getTokens();
    block.router = op.getRouterWeight();
    block.bias = op.getBias();
    block.gate = op.getGateWeight();
    block.up = op.getUpWeight();
    block.down = op.getDownWeight();
    block.sharedGate = op.getSharedGateWeight();
    block.sharedUp = op.getSharedUpWeight();
    block.sharedDown = op.getSharedDownWeight();
    block.sharedSigmoidGate = op.getSharedSigmoidGate();
    block.constantVectors = op.getConstantVectors();
    block.constantMix = op.getConstantMix();
    block.layout = op.getLayout();
    return block;
  }
};

/// Sharding of one function: argument splits and the token path.
class FunctionSharder {
public:
  FunctionSharder(func::FuncOp func, Degrees degrees)
      : func(func), degrees(degrees), context(func.getContext()) {}

  /// Checks that the function can be sharded; emits located errors.
  LogicalResult analyze();
  /// Rewrites the function into the program of one rank.
  void rewrite();

private:
  LogicalResult analyzeBlock(BlockOperands block);
  LogicalResult classify(Operation *user, Value value, ArgumentSplit split);
  LogicalResult checkReplicated(Operation *user, Value value, StringRef role);
  LogicalResult checkArgumentUses();
  void expandChains();
  Value shardLayer(LayerOp layer);
  RankedTensorType localType(RankedTensorType type,
                             const ArgumentSplit &split) const;
  int64_t axesSize(ArrayRef<int16_t> axes) const;
  ArrayAttr splitAttr(const ArgumentSplit &split) const;

  func::FuncOp func;
  Degrees degrees;
  MLIRContext *context;
  llvm::DenseMap<BlockArgument, ArgumentSplit> splits;
  llvm::DenseSet<Value> tokenPath;
  /// Expert permutations of the blocks (null when the identity).
  llvm::DenseMap<Operation *, DenseI64ArrayAttr> permutations;
};

} // namespace

static int64_t dimOf(Value value, unsigned dim) {
  return cast<RankedTensorType>(value.getType()).getDimSize(dim);
}

int64_t FunctionSharder::axesSize(ArrayRef<int16_t> axes) const {
  int64_t size = 1;
  for (int16_t axis : axes)
    size *= axis == kEdpAxis ? degrees.edp
                             : (axis == kEpAxis ? degrees.ep : degrees.etp);
  return size;
}

RankedTensorType FunctionSharder::localType(RankedTensorType type,
                                            const ArgumentSplit &split) const {
  SmallVector<int64_t> shape(type.getShape());
  for (auto [dim, axes] : llvm::enumerate(split.axes))
    shape[dim] /= axesSize(axes);
  return type.clone(shape);
}

ArrayAttr FunctionSharder::splitAttr(const ArgumentSplit &split) const {
  SmallVector<Attribute> entries;
  for (ArrayRef<int16_t> axes : split.axes)
    entries.push_back(DenseI16ArrayAttr::get(context, axes));
  return ArrayAttr::get(context, entries);
}

/// The split of a `[T, H]` token tensor.
static ArgumentSplit tokenSplit() {
  return {"tokens", {{kEdpAxis, kEpAxis}, {}}, nullptr};
}

/// Records that `value` (an operand of `user`) is split as `split`: a token
/// path value, or a function argument whose split must agree with its other
/// uses.
LogicalResult FunctionSharder::classify(Operation *user, Value value,
                                        ArgumentSplit split) {
  bool isToken = split.role == "tokens";
  if (isToken && tokenPath.contains(value))
    return success();
  auto argument = dyn_cast<BlockArgument>(value);
  if (!argument || argument.getOwner() != &func.getBody().front())
    return user->emitError()
           << "moe-shard needs the " << split.role
           << (isToken ? " to be a function argument or the result of an "
                         "earlier moe.layer/moe.chain (or a sum of those)"
                       : " to be a function argument, so that each rank "
                         "receives its block");
  // Each dimension must divide evenly.
  auto type = cast<RankedTensorType>(value.getType());
  for (auto [dim, axes] : llvm::enumerate(split.axes)) {
    int64_t parts = axesSize(axes);
    int64_t size = type.getDimSize(dim);
    if (ShapedType::isDynamic(size))
      return user->emitError() << "moe-shard needs a static dimension " << dim
                               << " of the " << split.role << " (" << type
                               << ")";
    if (size % parts != 0)
      return user->emitError()
             << "moe-shard cannot split dimension " << dim << " of the "
             << split.role << " (" << size << ") into " << parts
             << " equal blocks";
  }
  auto [it, inserted] = splits.try_emplace(argument, split);
  if (!inserted && !(it->second == split))
    return user->emitError()
           << "function argument #" << argument.getArgNumber()
           << " is used as the " << split.role << " here and as the "
           << it->second.role
           << " elsewhere, which moe-shard would split differently";
  if (isToken)
    tokenPath.insert(value);
  return success();
}

/// A replicated operand keeps its type: it must not be split elsewhere.
LogicalResult FunctionSharder::checkReplicated(Operation *user, Value value,
                                               StringRef role) {
  if (!value)
    return success();
  auto argument = dyn_cast<BlockArgument>(value);
  if (tokenPath.contains(value) || (argument && splits.count(argument)))
    return user->emitError()
           << "the " << role
           << " is replicated on every rank but the same value is split "
              "elsewhere";
  return success();
}

LogicalResult FunctionSharder::analyzeBlock(BlockOperands block) {
  Operation *op = block.op;
  bool inOut = block.layout == WeightLayout::in_out;
  if (block.capacity && degrees.tokenSplit() > 1)
    return op->emitError()
           << "moe-shard supports capacity-mode dispatch only when tokens are "
              "not split (ep * edp = 1, got "
           << degrees.tokenSplit()
           << "): a per-expert capacity over tokens of several ranks is not "
              "the single-rank semantics";
  int64_t experts = dimOf(block.up, 0);
  if (ShapedType::isDynamic(experts))
    return op->emitError() << "moe-shard needs a static number of experts";
  if (experts % degrees.ep != 0)
    return op->emitError() << "moe-shard cannot split " << experts
                           << " experts over ep = " << degrees.ep << " ranks";

  // The expert placement (a permutation of [0, E), checked by the dialect's
  // attribute verifier); the identity needs no index mapping.
  DenseI64ArrayAttr permutation =
      op->getAttrOfType<DenseI64ArrayAttr>(kPermutationAttr);
  if (permutation &&
      llvm::equal(permutation.asArrayRef(), llvm::seq<int64_t>(0, experts)))
    permutation = nullptr;
  permutations[op] = permutation;

  if (failed(classify(op, block.tokens, tokenSplit())))
    return failure();
  // Expert weights: experts over ep, F over etp. in_out: gate/up [E, H, F],
  // down [E, F, H]; out_in: gate/up [E, F, H], down [E, H, F].
  auto expertSplit = [&](StringRef role, unsigned fDim) {
    ArgumentSplit split{role, {{}, {}, {}}, permutation};
    split.axes[0] = {kEpAxis};
    split.axes[fDim] = {kEtpAxis};
    return split;
  };
  unsigned projectionF = inOut ? 2 : 1, downF = inOut ? 1 : 2;
  if (block.gate &&
      failed(classify(op, block.gate, expertSplit("gate weight", projectionF))))
    return failure();
  if (failed(classify(op, block.up, expertSplit("up weight", projectionF))) ||
      failed(classify(op, block.down, expertSplit("down weight", downF))))
    return failure();
  // Shared experts: F over etp. in_out: gate/up [H, F], down [F, H].
  auto sharedSplit = [&](StringRef role, unsigned fDim) {
    ArgumentSplit split{role, {{}, {}}, nullptr};
    split.axes[fDim] = {kEtpAxis};
    return split;
  };
  unsigned sharedProjectionF = inOut ? 1 : 0, sharedDownF = inOut ? 0 : 1;
  if (block.sharedGate &&
      failed(classify(op, block.sharedGate,
                      sharedSplit("shared gate weight", sharedProjectionF))))
    return failure();
  if (block.sharedUp &&
      (failed(classify(op, block.sharedUp,
                       sharedSplit("shared up weight", sharedProjectionF))) ||
       failed(classify(op, block.sharedDown,
                       sharedSplit("shared down weight", sharedDownF)))))
    return failure();
  for (auto [value, role] :
       {std::pair<Value, StringRef>{block.router, "router weight"},
        {block.bias, "selection bias"},
        {block.sharedSigmoidGate, "shared sigmoid gate"},
        {block.constantVectors, "constant expert vectors"},
        {block.constantMix, "constant expert mix"}})
    if (failed(checkReplicated(op, value, role)))
      return failure();
  tokenPath.insert(op->getResult(0));
  return success();
}

/// Split arguments may only feed the blocks (in the role they were classified
/// with), residual sums (tokens) and the return.
LogicalResult FunctionSharder::checkArgumentUses() {
  for (auto &[argument, split] : splits) {
    for (OpOperand &use : argument.getUses()) {
      Operation *user = use.getOwner();
      if (isa<LayerOp, ChainOp, func::ReturnOp>(user))
        continue;
      if (split.role == "tokens" && isa<arith::AddFOp>(user))
        continue;
      return user->emitError()
             << "moe-shard cannot shard '" << user->getName()
             << "': it uses function argument #" << argument.getArgNumber()
             << ", the " << split.role << ", which is split across ranks";
    }
  }
  return success();
}

LogicalResult FunctionSharder::analyze() {
  Block &body = func.getBody().front();
  for (Operation &op : body) {
    if (op.getNumRegions() > 0) {
      WalkResult nested = op.walk([&](Operation *inner) {
        if (inner == &op || !isa<MoEDialect>(inner->getDialect()))
          return WalkResult::advance();
        inner->emitError() << "moe-shard handles moe ops at the top level of "
                              "a function body only";
        return WalkResult::interrupt();
      });
      if (nested.wasInterrupted())
        return failure();
    }
    if (auto layer = dyn_cast<LayerOp>(op)) {
      BlockOperands block = BlockOperands::of(layer);
      block.capacity = layer.getCapacity();
      if (failed(analyzeBlock(block)))
        return failure();
      continue;
    }
    if (auto chain = dyn_cast<ChainOp>(op)) {
      if (failed(analyzeBlock(BlockOperands::of(chain))))
        return failure();
      continue;
    }
    if (isa<RouterOp, DispatchOp, ExpertsOp, CombineOp, NullExpertsOp,
            SharedExpertsOp>(op))
      return op.emitError()
             << "moe-shard works on whole moe.layer / moe.chain ops; run it "
                "before moe-decompose";
    if (isa<MoEDialect>(op.getDialect()))
      return op.emitError() << "moe-shard cannot shard '" << op.getName()
                            << "' yet";
    if (isa<func::ReturnOp>(op))
      continue;
    bool onTokenPath = llvm::any_of(op.getOperands(), [&](Value operand) {
      return tokenPath.contains(operand);
    });
    if (!onTokenPath)
      continue;
    // Residual sums of token tensors stay row-local.
    if (auto add = dyn_cast<arith::AddFOp>(op)) {
      if (failed(classify(&op, add.getLhs(), tokenSplit())) ||
          failed(classify(&op, add.getRhs(), tokenSplit())))
        return failure();
      tokenPath.insert(add.getResult());
      continue;
    }
    return op.emitError() << "moe-shard cannot shard '" << op.getName()
                          << "': it uses token values that are split across "
                             "ranks";
  }
  return checkArgumentUses();
}

void FunctionSharder::expandChains() {
  SmallVector<ChainOp> chains(func.getBody().front().getOps<ChainOp>());
  for (ChainOp chain : chains) {
    OpBuilder builder(chain);
    Value state = chain.getTokens();
    Operation *before = chain->getPrevNode();
    for (int64_t i = 0, e = chain.getIterationsAttr().getInt(); i < e; ++i)
      state = chain.buildIteration(builder, i, state);
    DenseI64ArrayAttr permutation = permutations.lookup(chain);
    Block::iterator first = before ? std::next(before->getIterator())
                                   : chain->getBlock()->begin();
    for (Operation &op : llvm::make_range(first, chain->getIterator()))
      if (isa<LayerOp>(op)) {
        permutations[&op] = permutation;
        tokenPath.insert(op.getResult(0));
      } else if (isa<arith::AddFOp>(op)) {
        tokenPath.insert(op.getResult(0));
      }
    chain.getResult().replaceAllUsesWith(state);
    tokenPath.erase(chain.getResult());
    permutations.erase(chain);
    chain.erase();
  }
}

static Value indexConstant(OpBuilder &builder, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(builder, loc, value);
}

static Value i32Constant(OpBuilder &builder, Location loc, int64_t value) {
  return arith::ConstantIntOp::create(builder, loc, builder.getI32Type(),
                                      value);
}

/// A 1-D or 2-D elementwise linalg.generic producing an i32 tensor of
/// `shape` from `body(builder, loc, indices, inputs)`.
static Value buildIndexGeneric(
    OpBuilder &builder, Location loc, ArrayRef<int64_t> shape,
    ValueRange inputs,
    function_ref<Value(OpBuilder &, Location, ArrayRef<Value>, ValueRange)>
        body) {
  Type i32 = builder.getI32Type();
  Value init = tensor::EmptyOp::create(builder, loc, shape, i32);
  unsigned rank = shape.size();
  SmallVector<AffineMap> maps(inputs.size() + 1,
                              builder.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             builder, loc, init.getType(), inputs, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &b, Location l, ValueRange args) {
               SmallVector<Value> indices;
               for (unsigned d = 0; d < rank; ++d)
                 indices.push_back(linalg::IndexOp::create(b, l, d));
               Value result = body(b, l, indices, args.drop_back());
               linalg::YieldOp::create(b, l, result);
             })
      .getResult(0);
}

/// `indices` with every routed expert e (0 <= e < E) replaced by its
/// position in `permutation` (the inverse permutation); null-expert slots
/// unchanged.
static Value permuteIndices(OpBuilder &builder, Location loc, Value indices,
                            ArrayRef<int64_t> permutation) {
  int64_t experts = permutation.size();
  SmallVector<int32_t> inverse(experts);
  for (auto [position, expert] : llvm::enumerate(permutation))
    inverse[expert] = static_cast<int32_t>(position);
  auto tableType = RankedTensorType::get({experts}, builder.getI32Type());
  Value table = arith::ConstantOp::create(
      builder, loc, DenseElementsAttr::get(tableType, ArrayRef(inverse)));
  auto type = cast<RankedTensorType>(indices.getType());
  return buildIndexGeneric(
      builder, loc, type.getShape(), ValueRange{indices},
      [&](OpBuilder &b, Location l, ArrayRef<Value>, ValueRange args) {
        Value expert = args[0];
        Value zero = i32Constant(b, l, 0);
        Value limit = i32Constant(b, l, experts);
        Value routed = arith::AndIOp::create(
            b, l,
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, expert,
                                  zero),
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, expert,
                                  limit));
        Value safe = arith::SelectOp::create(b, l, routed, expert, zero);
        Value at = arith::IndexCastOp::create(b, l, b.getIndexType(), safe);
        Value position = tensor::ExtractOp::create(b, l, table, ValueRange{at});
        return arith::SelectOp::create(b, l, routed, position, expert)
            .getResult();
      });
}

Value FunctionSharder::shardLayer(LayerOp layer) {
  OpBuilder builder(layer);
  Location loc = layer.getLoc();
  Value tokens = layer.getTokens();
  auto tokensType = cast<RankedTensorType>(tokens.getType());
  int64_t numTokens = tokensType.getDimSize(0), hidden = tokensType.getDimSize(1);
  Type element = tokensType.getElementType();
  RoutingAttr routing = layer.getRouting();
  int64_t topK = routing.getTopK();
  int64_t localExperts = dimOf(layer.getUpWeight(), 0);
  int64_t experts = localExperts * degrees.ep;
  Type f32 = builder.getF32Type(), i32 = builder.getI32Type();
  auto grid = FlatSymbolRefAttr::get(context, kGridName);
  auto axes = [&](int16_t axis) {
    return DenseI16ArrayAttr::get(context, {axis});
  };

  // Routing on the rank's own tokens.
  Value logits = buildRouterLogits(builder, loc, tokens,
                                   layer.getRouterWeight(), layer.getLayout());
  auto slots = [&](Type type) {
    return RankedTensorType::get({numTokens, topK}, type);
  };
  auto router = RouterOp::create(builder, loc, slots(f32), slots(i32), logits,
                                 layer.getBias(), routing);
  Value weights = router.getWeights(), indices = router.getIndices();
  // Expert e lives at position perm^-1[e] of the permuted weights.
  Value positions = indices;
  if (DenseI64ArrayAttr permutation = permutations.lookup(layer))
    positions = permuteIndices(builder, loc, indices, permutation.asArrayRef());

  // Local dispatch over all E experts, sorted by position: the rows for EP
  // member j are the contiguous range of experts [j*El, (j+1)*El).
  int64_t numRows = dispatchRowBound(numTokens, topK, experts,
                                     layer.getCapacity());
  bool byScore = layer.getDropPolicy() == DropPolicy::score;
  auto dispatch = DispatchOp::create(
      builder, loc, RankedTensorType::get({numRows, hidden}, element),
      RankedTensorType::get({experts + 1}, i32),
      RankedTensorType::get({numRows}, i32), tokens, positions,
      byScore ? weights : Value(), builder.getI64IntegerAttr(experts),
      layer.getCapacityAttr(), layer.getDropPolicyAttr());

  Value routed;
  if (degrees.ep == 1) {
    Value outputs = ExpertsOp::create(
        builder, loc, dispatch.getRows().getType(), dispatch.getRows(),
        dispatch.getOffsets(), layer.getGateWeight(), layer.getUpWeight(),
        layer.getDownWeight(), layer.getActivationAttr(),
        layer.getLayoutAttr());
    routed = CombineOp::create(builder, loc, tokensType, outputs,
                               dispatch.getSources(), weights);
  } else {
    int64_t ep = degrees.ep;
    // Rows per EP member: offsets[(j+1)*El] - offsets[j*El].
    SmallVector<Value> counts;
    Value offsets = dispatch.getOffsets();
    auto offsetAt = [&](int64_t expert) {
      return tensor::ExtractOp::create(
          builder, loc, offsets,
          ValueRange{indexConstant(builder, loc, expert)});
    };
    for (int64_t j = 0; j < ep; ++j)
      counts.push_back(arith::SubIOp::create(
          builder, loc, offsetAt((j + 1) * localExperts),
          offsetAt(j * localExperts)));
    Value sendCounts = tensor::FromElementsOp::create(
        builder, loc, RankedTensorType::get({ep}, i32), counts);

    // Each row's local expert on its destination (position mod El), so the
    // receiver can regroup its rows expert-major.
    Value rowExperts =
        buildRowLocalExperts(builder, loc, dispatch.getSources(), positions,
                             numRows, topK, localExperts);

    // Dispatch: rows and their local experts to their EP member. The receive
    // capacity bounds what all ep members can send to one rank.
    int64_t capacity = ep * numRows;
    auto received = moeflow::AllToAllVOp::create(
        builder, loc, RankedTensorType::get({capacity, hidden}, element),
        sendCounts.getType(), dispatch.getRows(), sendCounts, grid,
        axes(kEpAxis));
    auto receivedExperts = moeflow::AllToAllVOp::create(
        builder, loc, RankedTensorType::get({capacity}, i32),
        sendCounts.getType(), rowExperts, sendCounts, grid, axes(kEpAxis));
    Value recvCounts = received.getRecvCounts();

    // Rows arrive source-major; past the received total they are padding
    // (expert El, which the regrouping dispatch drops).
    Value tags = buildReceivedTags(builder, loc, receivedExperts.getOutput(),
                                   recvCounts, capacity, localExperts);
    Value tags2d = tensor::ExpandShapeOp::create(
        builder, loc, RankedTensorType::get({capacity, 1}, i32), tags,
        SmallVector<ReassociationIndices>{{0, 1}});
    auto regroup = DispatchOp::create(
        builder, loc, RankedTensorType::get({capacity, hidden}, element),
        RankedTensorType::get({localExperts + 1}, i32),
        RankedTensorType::get({capacity}, i32), received.getOutput(), tags2d,
        Value(), builder.getI64IntegerAttr(localExperts), IntegerAttr(),
        DropPolicyAttr());

    // The rank's experts (its F slice under etp) on the grouped rows.
    Value outputs = ExpertsOp::create(
        builder, loc, regroup.getRows().getType(), regroup.getRows(),
        regroup.getOffsets(), layer.getGateWeight(), layer.getUpWeight(),
        layer.getDownWeight(), layer.getActivationAttr(),
        layer.getLayoutAttr());
    // Back to arrival order (each grouped row has exactly one source).
    auto unitType = RankedTensorType::get({capacity, 1}, f32);
    Value unit = arith::ConstantOp::create(
        builder, loc, DenseElementsAttr::get(unitType, 1.0f));
    Value arrival = CombineOp::create(
        builder, loc, RankedTensorType::get({capacity, hidden}, element),
        outputs, regroup.getSources(), unit);
    // Combine: the rows return to their senders, in the order sent.
    auto returned = moeflow::AllToAllVOp::create(
        builder, loc, dispatch.getRows().getType(), recvCounts.getType(),
        arrival, recvCounts, grid, axes(kEpAxis));
    routed = CombineOp::create(builder, loc, tokensType, returned.getOutput(),
                               dispatch.getSources(), weights);
  }

  if (layer.getSharedUpWeight()) {
    Value shared = SharedExpertsOp::create(
        builder, loc, tokensType, tokens, layer.getSharedGateWeight(),
        layer.getSharedUpWeight(), layer.getSharedDownWeight(),
        layer.getSharedSigmoidGate(), layer.getActivationAttr(),
        layer.getLayoutAttr());
    routed = arith::AddFOp::create(builder, loc, routed, shared);
  }
  // Under etp every rank holds the partial sum over its F slice.
  if (degrees.etp > 1)
    routed = moeflow::AllReduceOp::create(
        builder, loc, routed.getType(), routed, grid, axes(kEtpAxis),
        moeflow::ReductionAttr::get(context, moeflow::Reduction::sum));
  if (routing.getCopyExperts() + routing.getConstantExperts() > 0) {
    Value nulls = NullExpertsOp::create(
        builder, loc, tokensType, tokens, indices, weights,
        layer.getConstantVectors(), layer.getConstantMix(), experts,
        routing.getZeroExperts(), routing.getCopyExperts(),
        routing.getConstantExperts());
    routed = arith::AddFOp::create(builder, loc, routed, nulls);
  }
  return routed;
}

void FunctionSharder::rewrite() {
  expandChains();
  Block &body = func.getBody().front();

  // Arguments: local types and their split.
  for (auto &[argument, split] : splits) {
    auto type = cast<RankedTensorType>(argument.getType());
    argument.setType(localType(type, split));
    unsigned index = argument.getArgNumber();
    func.setArgAttr(index, kSplitAxesAttr, splitAttr(split));
    if (split.permutation)
      func.setArgAttr(index, kPermutationAttr, split.permutation);
  }

  // Layers in order; residual sums take their operands' local type.
  for (Operation &op : llvm::make_early_inc_range(body)) {
    if (auto layer = dyn_cast<LayerOp>(op)) {
      Value local = shardLayer(layer);
      tokenPath.insert(local);
      layer.getResult().replaceAllUsesWith(local);
      tokenPath.erase(layer.getResult());
      layer.erase();
      continue;
    }
    if (auto add = dyn_cast<arith::AddFOp>(op))
      if (tokenPath.contains(add.getResult()))
        add.getResult().setType(add.getLhs().getType());
  }

  // Results: the split of what is returned.
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  func.setType(FunctionType::get(context, body.getArgumentTypes(),
                                 ret.getOperandTypes()));
  for (auto [index, value] : llvm::enumerate(ret.getOperands())) {
    if (tokenPath.contains(value)) {
      func.setResultAttr(index, kSplitAxesAttr, splitAttr(tokenSplit()));
      continue;
    }
    auto argument = dyn_cast<BlockArgument>(value);
    if (!argument)
      continue;
    auto it = splits.find(argument);
    if (it == splits.end())
      continue;
    func.setResultAttr(index, kSplitAxesAttr, splitAttr(it->second));
    if (it->second.permutation)
      func.setResultAttr(index, kPermutationAttr, it->second.permutation);
  }
}

namespace {
struct MoEShardPass : mlir::moe::impl::MoEShardBase<MoEShardPass> {
  using MoEShardBase::MoEShardBase;

  void runOnOperation() override;
};
} // namespace

/// The module's plan: its `moe.parallel` attribute, else the one plan its
/// layers carry. Null without any; failure on disagreement.
static FailureOr<ParallelAttr> findPlan(ModuleOp module) {
  auto plan =
      module->getAttrOfType<ParallelAttr>(MoEDialect::getParallelAttrName());
  if (module->hasAttr(MoEDialect::getParallelAttrName()) && !plan)
    return module.emitError()
           << "'" << MoEDialect::getParallelAttrName()
           << "' must be a #moe.parallel plan";
  WalkResult walk = module.walk([&](LayerOp layer) {
    std::optional<ParallelAttr> own = layer.getParallel();
    if (!own)
      return WalkResult::advance();
    if (!plan) {
      plan = *own;
      return WalkResult::advance();
    }
    if (*own == plan)
      return WalkResult::advance();
    layer.emitError() << "this layer's parallel plan " << *own
                      << " differs from the plan " << plan
                      << " moe-shard applies; one module has one grid";
    return WalkResult::interrupt();
  });
  if (walk.wasInterrupted())
    return failure();
  return plan;
}

/// The `shard.grid @moe_grid` of `module`, created when missing.
static FailureOr<shard::GridOp> getOrCreateGrid(ModuleOp module,
                                                const Degrees &degrees) {
  SmallVector<int64_t> shape = {degrees.edp, degrees.ep, degrees.etp};
  Operation *existing = SymbolTable::lookupSymbolIn(module, kGridName);
  if (auto grid = dyn_cast_or_null<shard::GridOp>(existing)) {
    if (grid.getShape() == ArrayRef<int64_t>(shape))
      return grid;
    return grid.emitError() << "moe-shard needs @" << kGridName
                            << " to have shape " << degrees.edp << "x"
                            << degrees.ep << "x" << degrees.etp
                            << " (edp x ep x etp)";
  }
  if (existing)
    return existing->emitError()
           << "moe-shard needs the symbol @" << kGridName
           << " for its shard.grid, but it names another op";
  OpBuilder builder = OpBuilder::atBlockBegin(module.getBody());
  return shard::GridOp::create(builder, module.getLoc(), kGridName, shape);
}

/// Whether `func` is already the program of one rank (moe-shard ran on it).
static bool isSharded(func::FuncOp func) {
  auto hasSplit = [](ArrayAttr attrs) {
    return attrs && llvm::any_of(attrs, [](Attribute dict) {
             auto entries = dyn_cast_or_null<DictionaryAttr>(dict);
             return entries && entries.contains(kSplitAxesAttr);
           });
  };
  return hasSplit(func.getArgAttrsAttr()) || hasSplit(func.getResAttrsAttr());
}

void MoEShardPass::runOnOperation() {
  ModuleOp module = getOperation();
  FailureOr<ParallelAttr> plan = findPlan(module);
  if (failed(plan))
    return signalPassFailure();
  if (!*plan)
    return; // Nothing to apply.
  if (plan->getPp() > 1) {
    module.emitError() << "moe-shard does not support pipeline parallelism "
                          "yet (the plan has pp = "
                       << plan->getPp() << ")";
    return signalPassFailure();
  }
  Degrees degrees{plan->getEtp(), plan->getEp(), plan->getEdp()};
  if (degrees.world() == 1)
    return; // One rank: the program is the function itself.

  SmallVector<FunctionSharder> sharders;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func.isPublic() || func.isExternal())
      continue;
    bool holdsBlocks = false;
    func.walk([&](Operation *op) {
      holdsBlocks |= isa<MoEDialect>(op->getDialect());
    });
    if (!holdsBlocks || isSharded(func))
      continue;
    if (!func.getBody().hasOneBlock()) {
      func.emitError() << "moe-shard needs a function body of one block";
      return signalPassFailure();
    }
    FunctionSharder sharder(func, degrees);
    if (failed(sharder.analyze()))
      return signalPassFailure();
    sharders.push_back(std::move(sharder));
  }
  if (sharders.empty())
    return;
  if (failed(getOrCreateGrid(module, degrees)))
    return signalPassFailure();
  for (FunctionSharder &sharder : sharders)
    sharder.rewrite();
}
