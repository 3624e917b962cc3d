//===- Composition.cpp - moe.composition -> scf/tensor/func.call ----------===//
//
// Composition of experts, one request at a time:
//
//   result = tensor.empty [R, ...]
//   scf.for r in [0, R) carrying result:
//     m = argmax selector[r, :]     scf.for over M, strict `>` in f32 (ties
//                                   keep the lower index; as the router's
//                                   top-k: a NaN never beats the running
//                                   best, so a NaN wins only in column 0)
//     x = inputs[r]                 tensor.extract_slice, rank-reduced to the
//                                   model's argument type
//     y = scf.index_switch m        case i: func.call @models[i](x, w_i...)
//                                   with w_i model i's `weights` operands
//                                   default: func.call of the last model
//                                   (unreachable: m is in [0, M))
//     result[r] = y                 tensor.insert_slice
//
// Only the chosen model runs for a request. The models stay func.funcs; the
// CPU pipeline lowers their bodies with the rest of the module and one-shot
// bufferization works across the calls (function boundaries).
//
//===----------------------------------------------------------------------===//

#include "LoweringBuilder.h"
#include "Patterns.h"

#include "moe/IR/MoEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::moe;

/// Whether each request's result has static sizes (the result tensor is
/// allocated before any model runs).
static bool hasStaticRequestSizes(CompositionOp op) {
  return llvm::none_of(op.getType().getShape().drop_front(),
                       ShapedType::isDynamic);
}

LogicalResult mlir::moe::checkCompositionLowering(CompositionOp op) {
  for (Attribute attr : op.getModels())
    if (!isa<FlatSymbolRefAttr>(attr))
      return op.emitOpError()
             << "model " << attr
             << " is a nested symbol reference; the CPU lowering calls "
                "models with func.call, which needs a flat name";
  if (!hasStaticRequestSizes(op))
    return op.emitOpError()
           << "result " << op.getType()
           << " has dynamic sizes past the request dimension; the CPU "
              "lowering needs static per-request result sizes";
  return success();
}

namespace {

struct LowerComposition : OpRewritePattern<CompositionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CompositionOp op,
                                PatternRewriter &rewriter) const override {
    // The verifier checked the symbols and the weights' grouping; flat names
    // are checked by checkCompositionLowering.
    FailureOr<SmallVector<CompositionOp::Model>> models = op.resolveModels();
    if (failed(models) ||
        !llvm::all_of(op.getModels(), llvm::IsaPred<FlatSymbolRefAttr>) ||
        !hasStaticRequestSizes(op))
      return rewriter.notifyMatchFailure(op, "not lowerable (see "
                                             "checkCompositionLowering)");
    LoweringBuilder b(op.getLoc(), rewriter);
    Value selector = op.getSelector(), inputs = op.getInputs();
    RankedTensorType resultType = op.getType();
    func::FuncOp first = models->front().func;
    Type requestInputType = first.getArgumentTypes()[0];
    Type requestResultType = first.getResultTypes()[0];
    int64_t numModels = static_cast<int64_t>(models->size());

    Value zero = b.index(0);
    Value requests = b.dim(selector, 0);
    SmallVector<Value> dynamicRequests;
    if (resultType.isDynamicDim(0))
      dynamicRequests.push_back(requests);
    Value init = tensor::EmptyOp::create(b, resultType, dynamicRequests);

    // Slices of one request: [r, 0, ...] x [1, sizes...], unit strides.
    auto requestSlice = [&](LoweringBuilder &b, Value tensor, Value r) {
      SmallVector<OpFoldResult> offsets(
          cast<RankedTensorType>(tensor.getType()).getRank(),
          b.getIndexAttr(0));
      offsets[0] = r;
      SmallVector<OpFoldResult> sizes = b.sizes(tensor);
      sizes[0] = b.getIndexAttr(1);
      SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
      return std::make_tuple(offsets, sizes, strides);
    };

    Value result = b.forLoop(zero, requests, {init},
        [&](LoweringBuilder &b, Value r, ValueRange acc) -> SmallVector<Value> {
          Value chosen = b.argMax(b.rowSlice(selector, r), /*taken=*/Value(),
                                  zero, b.index(numModels))
                             .first;
          auto [inOffsets, inSizes, inStrides] = requestSlice(b, inputs, r);
          Value request = tensor::ExtractSliceOp::create(
              b, cast<RankedTensorType>(requestInputType), inputs, inOffsets,
              inSizes, inStrides);

          SmallVector<int64_t> cases =
              llvm::to_vector(llvm::seq<int64_t>(0, numModels));
          auto dispatch = scf::IndexSwitchOp::create(
              b, TypeRange{requestResultType}, chosen, cases, numModels);
          // The request, then the model's weights.
          auto callInto = [&](Region &region,
                              const CompositionOp::Model &model) {
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(&region.emplaceBlock());
            SmallVector<Value> arguments{request};
            llvm::append_range(arguments, model.weights);
            auto call = func::CallOp::create(b, model.func, arguments);
            scf::YieldOp::create(b, call.getResults());
          };
          for (auto [region, model] :
               llvm::zip_equal(dispatch.getCaseRegions(), *models))
            callInto(region, model);
          // Unreachable (argmax is in [0, M)); an out-of-range index would
          // mean the last model.
          callInto(dispatch.getDefaultRegion(), models->back());

          auto [outOffsets, outSizes, outStrides] = requestSlice(b, acc[0], r);
          return {tensor::InsertSliceOp::create(b, dispatch.getResult(0),
                                                acc[0], outOffsets, outSizes,
                                                outStrides)};
        })[0];
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::moe::populateCompositionLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerComposition>(patterns.getContext());
}
