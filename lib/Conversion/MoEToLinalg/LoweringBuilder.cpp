//===- LoweringBuilder.cpp - small helpers for the moe CPU lowering -------===//

#include "LoweringBuilder.h"

#include "moe/IR/MoEDialect.h"

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::moe;

Value LoweringBuilder::index(int64_t value) {
  return arith::ConstantIndexOp::create(*this, value);
}

Value LoweringBuilder::f32(double value) {
  return arith::ConstantOp::create(*this, getF32FloatAttr(value));
}

Value LoweringBuilder::constant(Type type, double value) {
  if (auto floatType = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(*this, getFloatAttr(floatType, value));
  if (type.isIndex())
    return index(static_cast<int64_t>(value));
  return arith::ConstantOp::create(
      *this, getIntegerAttr(type, static_cast<int64_t>(value)));
}

Value LoweringBuilder::dim(Value tensor, int64_t dim) {
  return tensor::DimOp::create(*this, tensor, dim);
}

SmallVector<OpFoldResult> LoweringBuilder::sizes(Value tensor) {
  return tensor::getMixedSizes(*this, getLoc(), tensor);
}

Value LoweringBuilder::filled(RankedTensorType type, ValueRange dynamicSizes,
                              double value) {
  Value empty = tensor::EmptyOp::create(*this, type, dynamicSizes);
  Value scalar = constant(type.getElementType(), value);
  return linalg::FillOp::create(*this, scalar, empty).getResult(0);
}

Value LoweringBuilder::filled(ArrayRef<OpFoldResult> shape, Type elementType,
                              double value) {
  Value empty = tensor::EmptyOp::create(*this, shape, elementType);
  Value scalar = constant(elementType, value);
  return linalg::FillOp::create(*this, scalar, empty).getResult(0);
}

Value LoweringBuilder::extract(Value tensor, ValueRange indices) {
  return tensor::ExtractOp::create(*this, tensor, indices);
}

Value LoweringBuilder::insert(Value scalar, Value tensor, ValueRange indices) {
  return tensor::InsertOp::create(*this, scalar, tensor, indices);
}

Value LoweringBuilder::toF32(Value scalar) {
  Type f32Type = getF32Type();
  if (scalar.getType() == f32Type)
    return scalar;
  return arith::ExtFOp::create(*this, f32Type, scalar);
}

Value LoweringBuilder::fromF32(Value scalar, Type type) {
  if (scalar.getType() == type)
    return scalar;
  return arith::TruncFOp::create(*this, type, scalar);
}

Value LoweringBuilder::toIndex(Value scalar) {
  if (scalar.getType().isIndex())
    return scalar;
  return arith::IndexCastOp::create(*this, getIndexType(), scalar);
}

Value LoweringBuilder::fromIndex(Value scalar, Type integerType) {
  if (integerType.isIndex())
    return scalar;
  return arith::IndexCastOp::create(*this, integerType, scalar);
}

Value LoweringBuilder::forEachExpertRun(
    Value offsets, Value numExperts, Value init,
    function_ref<Value(LoweringBuilder &, Value, Value, Value, Value)> body) {
  Value zero = index(0), one = index(1);
  return forLoop(zero, numExperts, {init},
      [&](LoweringBuilder &b, Value e, ValueRange acc) -> SmallVector<Value> {
        Value start = b.toIndex(b.extract(offsets, {e}));
        Value end =
            b.toIndex(b.extract(offsets, {arith::AddIOp::create(b, e, one)}));
        Value count = arith::SubIOp::create(b, end, start);
        Value hasRows =
            arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, count, zero);
        return b.ifElse(hasRows,
            [&](LoweringBuilder &b) -> SmallVector<Value> {
              return {body(b, e, start, count, acc[0])};
            },
            [&](LoweringBuilder &) -> SmallVector<Value> { return {acc[0]}; });
      })[0];
}

SmallVector<Value> LoweringBuilder::forLoop(Value lower, Value upper,
                                            ValueRange iterArgs,
                                            LoopBody body) {
  auto loop = scf::ForOp::create(
      *this, lower, upper, index(1), iterArgs,
      [&](OpBuilder &nested, Location loc, Value iv, ValueRange args) {
        LoweringBuilder inner(loc, nested);
        SmallVector<Value> results = body(inner, iv, args);
        scf::YieldOp::create(inner, results);
      });
  return SmallVector<Value>(loop.getResults());
}

SmallVector<Value> LoweringBuilder::independentForLoop(Value lower,
                                                       Value upper,
                                                       ValueRange iterArgs,
                                                       LoopBody body) {
  SmallVector<Value> results = forLoop(lower, upper, iterArgs, body);
  Operation *loop = results.empty()
                        ? nullptr
                        : results.front().getDefiningOp();
  if (loop)
    loop->setAttr(MoEDialect::getIndependentIterationsAttrName(),
                  getUnitAttr());
  return results;
}

Value LoweringBuilder::generate(
    RankedTensorType type, ValueRange dynamicSizes,
    function_ref<Value(LoweringBuilder &, ValueRange)> body,
    bool rowsInnermost) {
  Value init = tensor::EmptyOp::create(*this, type, dynamicSizes);
  bool transposed = rowsInnermost && type.getRank() == 2;
  AffineMap identity =
      transposed ? AffineMap::getPermutationMap(ArrayRef<unsigned>{1u, 0u},
                                                getContext())
                 : getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      *this, TypeRange{type}, ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{identity}, iterators,
      [&](OpBuilder &nested, Location loc, ValueRange) {
        LoweringBuilder inner(loc, nested);
        SmallVector<Value> indices;
        for (int64_t d = 0; d < type.getRank(); ++d)
          indices.push_back(linalg::IndexOp::create(inner, d));
        if (transposed)
          std::swap(indices[0], indices[1]);
        linalg::YieldOp::create(inner, body(inner, indices));
      });
  return generic.getResult(0);
}

Value LoweringBuilder::gatherTokenRows(Value tokens, Value sources,
                                       RankedTensorType rowsType,
                                       ValueRange dynamicRows,
                                       Value slotsPerToken) {
  Value zero = index(0);
  return generate(rowsType, dynamicRows,
      [&](LoweringBuilder &b, ValueRange at) -> Value {
        Value source = b.toIndex(b.extract(sources, {at[0]}));
        Value used = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                           source, zero);
        return b.ifElse(used,
            [&](LoweringBuilder &b) -> SmallVector<Value> {
              Value token = arith::DivUIOp::create(b, source, slotsPerToken);
              return {b.extract(tokens, {token, at[1]})};
            },
            [&](LoweringBuilder &b) -> SmallVector<Value> {
              return {b.constant(rowsType.getElementType(), 0.0)};
            })[0];
      });
}

SmallVector<Value> LoweringBuilder::ifElse(Value condition, Branch thenBranch,
                                           Branch elseBranch) {
  auto ifOp = scf::IfOp::create(
      *this, condition,
      [&](OpBuilder &nested, Location loc) {
        LoweringBuilder inner(loc, nested);
        scf::YieldOp::create(inner, thenBranch(inner));
      },
      [&](OpBuilder &nested, Location loc) {
        LoweringBuilder inner(loc, nested);
        scf::YieldOp::create(inner, elseBranch(inner));
      });
  return SmallVector<Value>(ifOp.getResults());
}

Value LoweringBuilder::rowSlice(Value matrix, Value row) {
  OpFoldResult length = tensor::getMixedSize(*this, getLoc(), matrix, 1);
  auto type = cast<RankedTensorType>(matrix.getType());
  auto sliceType = RankedTensorType::get({type.getDimSize(1)},
                                         type.getElementType());
  SmallVector<OpFoldResult> offsets = {row, getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {getIndexAttr(1), length};
  SmallVector<OpFoldResult> strides = {getIndexAttr(1), getIndexAttr(1)};
  return tensor::ExtractSliceOp::create(*this, sliceType, matrix, offsets,
                                        sizes, strides);
}

Value LoweringBuilder::insertRow(Value row, Value matrix, Value rowIndex) {
  SmallVector<OpFoldResult> offsets = {rowIndex, getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {getIndexAttr(1),
                                     tensor::getMixedSize(*this, getLoc(),
                                                          row, 0)};
  SmallVector<OpFoldResult> strides = {getIndexAttr(1), getIndexAttr(1)};
  return tensor::InsertSliceOp::create(*this, row, matrix, offsets, sizes,
                                       strides);
}

Value LoweringBuilder::leadingSlice(Value tensor, Value index) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), getIndexAttr(1));
  SmallVector<OpFoldResult> sliceSizes = sizes(tensor);
  offsets[0] = index;
  sliceSizes[0] = getIndexAttr(1);
  auto sliceType = RankedTensorType::get(type.getShape().drop_front(),
                                         type.getElementType());
  return tensor::ExtractSliceOp::create(*this, sliceType, tensor, offsets,
                                        sliceSizes, strides);
}

Value LoweringBuilder::map(
    ValueRange inputs, Value init,
    function_ref<Value(LoweringBuilder &, ValueRange)> body) {
  auto type = cast<RankedTensorType>(init.getType());
  AffineMap identity = getMultiDimIdentityMap(type.getRank());
  SmallVector<AffineMap> maps(inputs.size() + 1, identity);
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      *this, TypeRange{type}, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        LoweringBuilder inner(loc, nested);
        linalg::YieldOp::create(inner, body(inner, args));
      });
  return generic.getResult(0);
}

Value LoweringBuilder::castElements(Value tensor, Type elementType) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getElementType() == elementType)
    return tensor;
  Value init = tensor::EmptyOp::create(*this, sizes(tensor), elementType);
  return map({tensor}, init, [&](LoweringBuilder &b, ValueRange args) {
    auto source = cast<FloatType>(args[0].getType());
    auto target = cast<FloatType>(elementType);
    if (source.getWidth() < target.getWidth())
      return Value(arith::ExtFOp::create(b, target, args[0]));
    return Value(arith::TruncFOp::create(b, target, args[0]));
  });
}

Value LoweringBuilder::matmulF32(Value lhs, Value rhs, bool transposeRhs) {
  SmallVector<OpFoldResult> shape = {
      tensor::getMixedSize(*this, getLoc(), lhs, 0),
      tensor::getMixedSize(*this, getLoc(), rhs, transposeRhs ? 0 : 1)};
  Value init = filled(shape, getF32Type(), 0.0);
  if (transposeRhs)
    return linalg::MatmulTransposeBOp::create(*this, getLoc(),
                                              ValueRange{lhs, rhs},
                                              ValueRange{init})
        .getResult(0);
  return linalg::MatmulOp::create(*this, ValueRange{lhs, rhs}, ValueRange{init})
      .getResult(0);
}

Value LoweringBuilder::activation(Value x, Activation kind) {
  switch (kind) {
  case Activation::silu: {
    // x * sigmoid(x) = x / (1 + exp(-x))
    Value negated = arith::NegFOp::create(*this, x);
    Value denominator =
        arith::AddFOp::create(*this, f32(1.0), math::ExpOp::create(*this, negated));
    return arith::DivFOp::create(*this, x, denominator);
  }
  case Activation::gelu: {
    // 0.5 x (1 + erf(x / sqrt(2)))
    Value scaled = arith::MulFOp::create(*this, x, f32(M_SQRT1_2));
    Value erf = math::ErfOp::create(*this, scaled);
    Value onePlus = arith::AddFOp::create(*this, f32(1.0), erf);
    return arith::MulFOp::create(
        *this, arith::MulFOp::create(*this, f32(0.5), x), onePlus);
  }
  case Activation::gelu_tanh: {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    Value cube = arith::MulFOp::create(*this, arith::MulFOp::create(*this, x, x), x);
    Value inner = arith::AddFOp::create(
        *this, x, arith::MulFOp::create(*this, f32(0.044715), cube));
    Value tanh = math::TanhOp::create(
        *this, arith::MulFOp::create(*this, f32(std::sqrt(2.0 / M_PI)), inner));
    Value onePlus = arith::AddFOp::create(*this, f32(1.0), tanh);
    return arith::MulFOp::create(
        *this, arith::MulFOp::create(*this, f32(0.5), x), onePlus);
  }
  case Activation::relu:
    return arith::MaximumFOp::create(*this, x, f32(0.0));
  }
  llvm_unreachable("every Activation case is handled above");
}

Value LoweringBuilder::ffn(Value x, Value gate, Value up, Value down,
                           Activation kind, WeightLayout layout) {
  bool outIn = layout == WeightLayout::out_in;
  Type elementType = cast<RankedTensorType>(x.getType()).getElementType();
  Value upProjected = matmulF32(x, up, outIn);
  Value init = tensor::EmptyOp::create(*this, sizes(upProjected), getF32Type());
  Value hidden;
  if (gate) {
    Value gateProjected = matmulF32(x, gate, outIn);
    hidden = map({gateProjected, upProjected}, init,
                 [&](LoweringBuilder &b, ValueRange args) -> Value {
                   return arith::MulFOp::create(b, b.activation(args[0], kind),
                                                args[1]);
                 });
  } else {
    hidden = map({upProjected}, init,
                 [&](LoweringBuilder &b, ValueRange args) -> Value {
                   return b.activation(args[0], kind);
                 });
  }
  Value output = matmulF32(castElements(hidden, elementType), down, outIn);
  return castElements(output, elementType);
}

Value LoweringBuilder::scaleRowsBySigmoidGate(Value tokens, Value output,
                                              Value gateWeight) {
  // gate[t] = x_t · g in f32, then output[t, :] *= sigmoid(gate[t]).
  SmallVector<OpFoldResult> perToken = {
      tensor::getMixedSize(*this, getLoc(), tokens, 0)};
  Value init = filled(perToken, getF32Type(), 0.0);
  Value logits = linalg::MatvecOp::create(*this, ValueRange{tokens, gateWeight},
                                          ValueRange{init})
                     .getResult(0);
  auto type = cast<RankedTensorType>(output.getType());
  MLIRContext *context = getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, context);
  AffineMap perRow =
      AffineMap::get(2, 0, {mlir::getAffineDimExpr(0, context)}, context);
  Value empty = tensor::EmptyOp::create(*this, sizes(output),
                                        type.getElementType());
  return linalg::GenericOp::create(
             *this, TypeRange{type}, ValueRange{output, logits},
             ValueRange{empty},
             ArrayRef<AffineMap>{identity, perRow, identity},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::parallel},
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               LoweringBuilder inner(loc, nested);
               Value negExp = math::ExpOp::create(
                   inner, arith::NegFOp::create(inner, args[1]));
               Value sigmoid = arith::DivFOp::create(
                   inner, inner.f32(1.0),
                   arith::AddFOp::create(inner, inner.f32(1.0), negExp));
               Value scaled =
                   arith::MulFOp::create(inner, inner.toF32(args[0]), sigmoid);
               linalg::YieldOp::create(
                   inner, inner.fromF32(scaled, type.getElementType()));
             })
      .getResult(0);
}

std::pair<Value, Value> LoweringBuilder::argMax(Value values, Value taken,
                                                Value lower, Value upper) {
  SmallVector<Value> best = forLoop(
      lower, upper,
      {upper, f32(-std::numeric_limits<double>::infinity())},
      [&](LoweringBuilder &b, Value e, ValueRange acc) -> SmallVector<Value> {
        Value value = b.toF32(b.extract(values, {e}));
        Value none = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, acc[0],
                                           upper);
        Value greater = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT,
                                              value, acc[1]);
        Value better = arith::OrIOp::create(b, none, greater);
        if (taken) {
          Value free = arith::XOrIOp::create(b, b.extract(taken, {e}),
                                             b.constant(b.getI1Type(), 1));
          better = arith::AndIOp::create(b, better, free);
        }
        return {arith::SelectOp::create(b, better, e, acc[0]),
                arith::SelectOp::create(b, better, value, acc[1])};
      });
  return {best[0], best[1]};
}

Value LoweringBuilder::addScaledRow(Value acc, Value row, Value source,
                                    Value weight) {
  Value accRow = rowSlice(acc, row);
  Value updated = map({source}, accRow,
                      [&](LoweringBuilder &b, ValueRange args) -> Value {
                        Value scaled =
                            arith::MulFOp::create(b, b.toF32(args[0]), weight);
                        return arith::AddFOp::create(b, args[1], scaled);
                      });
  return insertRow(updated, acc, row);
}
