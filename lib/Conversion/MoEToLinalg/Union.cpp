//===- Union.cpp - moe.union_attention, moe.union_ffn -> linalg/scf -------===//
//
// Union of experts on a [B*S, D] view of the tokens:
//   union_ffn:       p = softmax(X·router + bias); per (sequence, expert) the
//                    `capacity` tokens of largest p are gathered (ascending
//                    positions), run through the expert's column/row slice of
//                    the FFN, and added back.
//   union_attention: g = softmax(X·gate + bias), top-k mask over heads,
//                    normalised over the batch axis; per (head, sequence) the
//                    `capacity` tokens of largest g are gathered, projected to
//                    q/k/v, RoPE'd at their compacted positions, attended
//                    causally, projected back and added at their positions.
// Selection only: the gate values never scale the outputs.
//
//===----------------------------------------------------------------------===//

#include "LoweringBuilder.h"
#include "Patterns.h"

#include "moe/IR/MoEOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();

/// [B, S, D] -> [B*S, D].
Value flattenTokens(LoweringBuilder &b, Value tokens) {
  auto type = cast<RankedTensorType>(tokens.getType());
  int64_t rows = type.isDynamicDim(0) || type.isDynamicDim(1)
                     ? ShapedType::kDynamic
                     : type.getDimSize(0) * type.getDimSize(1);
  auto flatType =
      RankedTensorType::get({rows, type.getDimSize(2)}, type.getElementType());
  SmallVector<ReassociationIndices> groups = {{0, 1}, {2}};
  return tensor::CollapseShapeOp::create(b, flatType, tokens, groups);
}

/// [B*S, D] -> the shape of `like` ([B, S, D]).
Value unflattenTokens(LoweringBuilder &b, Value flat, Value like) {
  auto likeType = cast<RankedTensorType>(like.getType());
  auto type = RankedTensorType::get(
      likeType.getShape(),
      cast<RankedTensorType>(flat.getType()).getElementType());
  SmallVector<ReassociationIndices> groups = {{0, 1}, {2}};
  return tensor::ExpandShapeOp::create(b, type, flat, groups, b.sizes(like));
}

/// Row-wise softmax of `logits` [R, N] + `bias` [N], in f32.
Value rowSoftmax(LoweringBuilder &b, Value logits, Value bias) {
  Value zero = b.index(0);
  Value columns = b.dim(logits, 1);
  // Rows are independent: row r reads and writes only row r.
  return b.independentForLoop(zero, b.dim(logits, 0), {logits},
      [&](LoweringBuilder &b, Value r, ValueRange acc) -> SmallVector<Value> {
        auto logit = [&](LoweringBuilder &b, Value n) -> Value {
          return arith::AddFOp::create(b, b.extract(logits, {r, n}),
                                       b.toF32(b.extract(bias, {n})));
        };
        Value maximum = b.forLoop(zero, columns, {b.f32(kNegativeInfinity)},
            [&](LoweringBuilder &b, Value n, ValueRange m) -> SmallVector<Value> {
              return {arith::MaximumFOp::create(b, m[0], logit(b, n))};
            })[0];
        auto shiftedExp = [&](LoweringBuilder &b, Value n) -> Value {
          return math::ExpOp::create(
              b, arith::SubFOp::create(b, logit(b, n), maximum));
        };
        Value sum = b.forLoop(zero, columns, {b.f32(0.0)},
            [&](LoweringBuilder &b, Value n, ValueRange s) -> SmallVector<Value> {
              return {arith::AddFOp::create(b, s[0], shiftedExp(b, n))};
            })[0];
        return b.forLoop(zero, columns, {acc[0]},
            [&](LoweringBuilder &b, Value n, ValueRange p) -> SmallVector<Value> {
              Value value = arith::DivFOp::create(b, shiftedExp(b, n), sum);
              return {b.insert(value, p[0], {r, n})};
            });
      })[0];
}

/// values[s] = matrix[base + s, column] for s in [0, count).
Value column(LoweringBuilder &b, Value matrix, Value base, Value count,
             Value columnIndex) {
  Value values =
      b.filled(ArrayRef<OpFoldResult>{count}, b.getF32Type(), 0.0);
  return b.forLoop(b.index(0), count, {values},
      [&](LoweringBuilder &b, Value s, ValueRange acc) -> SmallVector<Value> {
        Value row = arith::AddIOp::create(b, base, s);
        return {b.insert(b.extract(matrix, {row, columnIndex}), acc[0], {s})};
      })[0];
}

/// The rows of the `capacity` largest `values` (ties to the lower position)
/// gathered from `tokens` [B*S, D] at rows base + s, in ascending s; returns
/// (rows [C, D], positions [C] as index).
std::pair<Value, Value> gatherTop(LoweringBuilder &b, Value values,
                                  Value capacity, Value tokens, Value base) {
  Value zero = b.index(0), one = b.index(1);
  Value length = b.dim(values, 0);
  Value taken = b.filled(ArrayRef<OpFoldResult>{length}, b.getI1Type(), 0.0);
  taken = b.forLoop(zero, capacity, {taken},
      [&](LoweringBuilder &b, Value, ValueRange acc) -> SmallVector<Value> {
        Value best = b.argMax(values, acc[0], b.index(0), length).first;
        return {b.insert(b.constant(b.getI1Type(), 1), acc[0], {best})};
      })[0];
  auto tokensType = cast<RankedTensorType>(tokens.getType());
  SmallVector<OpFoldResult> rowsShape = {
      capacity, tensor::getMixedSize(b, b.getLoc(), tokens, 1)};
  Value rows = b.filled(rowsShape, tokensType.getElementType(), 0.0);
  Value positions =
      b.filled(ArrayRef<OpFoldResult>{capacity}, b.getIndexType(), 0.0);
  SmallVector<Value> gathered = b.forLoop(zero, length, {rows, positions, zero},
      [&](LoweringBuilder &b, Value s, ValueRange acc) -> SmallVector<Value> {
        return b.ifElse(b.extract(taken, {s}),
            [&](LoweringBuilder &b) -> SmallVector<Value> {
              Value row = b.rowSlice(tokens, arith::AddIOp::create(b, base, s));
              return {b.insertRow(row, acc[0], acc[2]),
                      b.insert(s, acc[1], {acc[2]}),
                      arith::AddIOp::create(b, acc[2], one)};
            },
            [&](LoweringBuilder &) -> SmallVector<Value> {
              return {acc[0], acc[1], acc[2]};
            });
      });
  return {gathered[0], gathered[1]};
}

/// acc[base + positions[c], :] += rows[c, :] for every c.
Value scatterAdd(LoweringBuilder &b, Value acc, Value rows, Value positions,
                 Value base) {
  return b.forLoop(b.index(0), b.dim(positions, 0), {acc},
      [&](LoweringBuilder &b, Value c, ValueRange state) -> SmallVector<Value> {
        Value target =
            arith::AddIOp::create(b, base, b.extract(positions, {c}));
        return {b.addScaledRow(state[0], target, b.rowSlice(rows, c),
                               b.f32(1.0))};
      })[0];
}

/// A [rows, cols] slice of a 2-D tensor at (row, col).
Value slice2D(LoweringBuilder &b, Value tensor, OpFoldResult row,
              OpFoldResult col, OpFoldResult rows, OpFoldResult cols,
              int64_t staticRows, int64_t staticCols) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto sliceType =
      RankedTensorType::get({staticRows, staticCols}, type.getElementType());
  SmallVector<OpFoldResult> offsets = {row, col}, sizes = {rows, cols},
                            strides = {b.getIndexAttr(1), b.getIndexAttr(1)};
  return tensor::ExtractSliceOp::create(b, sliceType, tensor, offsets, sizes,
                                        strides);
}

/// The capacity of a union op: its attribute, else ⌊S/2⌋.
Value capacityOf(LoweringBuilder &b, std::optional<uint64_t> capacity,
                 Value seq) {
  if (capacity)
    return b.index(*capacity);
  return arith::DivUIOp::create(b, seq, b.index(2));
}

struct LowerUnionFFN : OpRewritePattern<UnionFFNOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(UnionFFNOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value tokens = op.getTokens();
    auto upType = cast<RankedTensorType>(op.getUpWeight().getType());
    int64_t numExperts = op.getNumExperts();
    if (upType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "dynamic FFN width");
    int64_t sliceWidth = upType.getDimSize(1) / numExperts;
    Value zero = b.index(0);
    Value batch = b.dim(tokens, 0), seq = b.dim(tokens, 1);
    Value capacity = capacityOf(b, op.getCapacity(), seq);
    OpFoldResult model = tensor::getMixedSize(b, b.getLoc(), tokens, 2);
    int64_t staticModel = upType.getDimSize(0);

    Value flat = flattenTokens(b, tokens);
    Value probs =
        rowSoftmax(b, b.matmulF32(flat, op.getRouter(), false), op.getRouterBias());
    Value acc = b.filled(b.sizes(flat), b.getF32Type(), 0.0);
    acc = b.forLoop(zero, batch, {acc},
        [&](LoweringBuilder &b, Value sequence, ValueRange outer)
            -> SmallVector<Value> {
          Value base = arith::MulIOp::create(b, sequence, seq);
          return b.forLoop(zero, b.index(numExperts), outer,
              [&](LoweringBuilder &b, Value e, ValueRange state)
                  -> SmallVector<Value> {
                Value values = column(b, probs, base, seq, e);
                auto [rows, positions] =
                    gatherTop(b, values, capacity, flat, base);
                Value offset =
                    arith::MulIOp::create(b, e, b.index(sliceWidth));
                OpFoldResult width = b.getIndexAttr(sliceWidth);
                auto columns = [&](Value weight) {
                  return slice2D(b, weight, b.getIndexAttr(0), offset, model,
                                 width, staticModel, sliceWidth);
                };
                Value gate = op.getGateWeight() ? columns(op.getGateWeight())
                                                : Value();
                Value down = slice2D(b, op.getDownWeight(), offset,
                                     b.getIndexAttr(0), width, model,
                                     sliceWidth, staticModel);
                Value output = b.ffn(rows, gate, columns(op.getUpWeight()),
                                     down, op.getActivation(),
                                     WeightLayout::in_out);
                return {scatterAdd(b, state[0], output, positions, base)};
              });
        })[0];
    Type element = op.getResult().getType().getElementType();
    rewriter.replaceOp(op,
                       unflattenTokens(b, b.castElements(acc, element), tokens));
    return success();
  }
};

struct LowerUnionAttention : OpRewritePattern<UnionAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  /// RoPE (rotate-half pairing) of q or k [C, Dh] at compacted positions.
  static Value rope(LoweringBuilder &b, Value x, double theta, int64_t headDim) {
    Value zero = b.index(0);
    int64_t half = headDim / 2;
    return b.forLoop(zero, b.dim(x, 0), {x},
        [&](LoweringBuilder &b, Value c, ValueRange acc) -> SmallVector<Value> {
          Value position = arith::UIToFPOp::create(
              b, b.getF32Type(),
              arith::IndexCastOp::create(b, b.getI64Type(), c));
          return b.forLoop(zero, b.index(half), {acc[0]},
              [&](LoweringBuilder &b, Value i, ValueRange state)
                  -> SmallVector<Value> {
                // frequency = theta^(-2i/Dh)
                Value iFloat = arith::UIToFPOp::create(
                    b, b.getF32Type(),
                    arith::IndexCastOp::create(b, b.getI64Type(), i));
                Value exponent = arith::MulFOp::create(
                    b, iFloat, b.f32(-2.0 * std::log(theta) / headDim));
                Value angle = arith::MulFOp::create(
                    b, position, math::ExpOp::create(b, exponent));
                Value cos = math::CosOp::create(b, angle);
                Value sin = math::SinOp::create(b, angle);
                Value j = arith::AddIOp::create(b, i, b.index(half));
                Value low = b.extract(x, {c, i}), high = b.extract(x, {c, j});
                Value newLow = arith::SubFOp::create(
                    b, arith::MulFOp::create(b, low, cos),
                    arith::MulFOp::create(b, high, sin));
                Value newHigh = arith::AddFOp::create(
                    b, arith::MulFOp::create(b, high, cos),
                    arith::MulFOp::create(b, low, sin));
                Value updated = b.insert(newLow, state[0], {c, i});
                return {b.insert(newHigh, updated, {c, j})};
              });
        })[0];
  }

  /// Causal softmax(q kᵀ / √Dh) v over [C, Dh] f32 tensors.
  static Value attend(LoweringBuilder &b, Value q, Value k, Value v,
                      int64_t headDim) {
    Value zero = b.index(0), one = b.index(1);
    Value dims = b.index(headDim);
    double scale = 1.0 / std::sqrt(static_cast<double>(headDim));
    Value out = b.filled(b.sizes(q), b.getF32Type(), 0.0);
    return b.forLoop(zero, b.dim(q, 0), {out},
        [&](LoweringBuilder &b, Value i, ValueRange acc) -> SmallVector<Value> {
          Value last = arith::AddIOp::create(b, i, one);
          auto score = [&](LoweringBuilder &b, Value j) -> Value {
            Value dot = b.forLoop(zero, dims, {b.f32(0.0)},
                [&](LoweringBuilder &b, Value d, ValueRange s)
                    -> SmallVector<Value> {
                  Value product = arith::MulFOp::create(
                      b, b.extract(q, {i, d}), b.extract(k, {j, d}));
                  return {arith::AddFOp::create(b, s[0], product)};
                })[0];
            return arith::MulFOp::create(b, dot, b.f32(scale));
          };
          Value maximum = b.forLoop(zero, last, {b.f32(kNegativeInfinity)},
              [&](LoweringBuilder &b, Value j, ValueRange m) -> SmallVector<Value> {
                return {arith::MaximumFOp::create(b, m[0], score(b, j))};
              })[0];
          auto weight = [&](LoweringBuilder &b, Value j) -> Value {
            return math::ExpOp::create(
                b, arith::SubFOp::create(b, score(b, j), maximum));
          };
          Value sum = b.forLoop(zero, last, {b.f32(0.0)},
              [&](LoweringBuilder &b, Value j, ValueRange s) -> SmallVector<Value> {
                return {arith::AddFOp::create(b, s[0], weight(b, j))};
              })[0];
          return b.forLoop(zero, last, {acc[0]},
              [&](LoweringBuilder &b, Value j, ValueRange state)
                  -> SmallVector<Value> {
                Value p = arith::DivFOp::create(b, weight(b, j), sum);
                return {b.addScaledRow(state[0], i, b.rowSlice(v, j), p)};
              });
        })[0];
  }

  LogicalResult matchAndRewrite(UnionAttentionOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder b(op.getLoc(), rewriter);
    Value tokens = op.getTokens();
    auto queryType = cast<RankedTensorType>(op.getQuery().getType());
    if (queryType.isDynamicDim(2))
      return rewriter.notifyMatchFailure(op, "dynamic head size");
    int64_t headDim = queryType.getDimSize(2);
    double theta = op.getRopeTheta().convertToDouble();
    Value zero = b.index(0);
    Value batch = b.dim(tokens, 0), seq = b.dim(tokens, 1);
    Value heads = b.dim(op.getGate(), 1);
    Value capacity = b.index(op.getCapacity());

    Value flat = flattenTokens(b, tokens);
    Value gate =
        rowSoftmax(b, b.matmulF32(flat, op.getGate(), false), op.getGateBias());
    // Keep each token's top-k heads (others 0).
    gate = b.independentForLoop(zero, b.dim(flat, 0), {gate},
        [&](LoweringBuilder &b, Value r, ValueRange acc) -> SmallVector<Value> {
          Value row = b.rowSlice(acc[0], r);
          Value taken = b.filled(ArrayRef<OpFoldResult>{heads}, b.getI1Type(), 0.0);
          taken = b.forLoop(zero, b.index(op.getTopK()), {taken},
              [&](LoweringBuilder &b, Value, ValueRange t) -> SmallVector<Value> {
                Value best = b.argMax(row, t[0], zero, heads).first;
                return {b.insert(b.constant(b.getI1Type(), 1), t[0], {best})};
              })[0];
          return b.forLoop(zero, heads, {acc[0]},
              [&](LoweringBuilder &b, Value n, ValueRange g) -> SmallVector<Value> {
                Value masked = arith::SelectOp::create(
                    b, b.extract(taken, {n}), b.extract(g[0], {r, n}),
                    b.f32(0.0));
                return {b.insert(masked, g[0], {r, n})};
              });
        })[0];
    // Normalise over the batch axis: g[b,s,n] /= Σ_b' g[b',s,n] (0 stays 0).
    gate = b.forLoop(zero, seq, {gate},
        [&](LoweringBuilder &b, Value s, ValueRange outer) -> SmallVector<Value> {
          return b.forLoop(zero, heads, outer,
              [&](LoweringBuilder &b, Value n, ValueRange acc)
                  -> SmallVector<Value> {
                auto at = [&](LoweringBuilder &b, Value sequence) -> Value {
                  return arith::AddIOp::create(
                      b, arith::MulIOp::create(b, sequence, seq), s);
                };
                Value sum = b.forLoop(zero, batch, {b.f32(0.0)},
                    [&](LoweringBuilder &b, Value sequence, ValueRange t)
                        -> SmallVector<Value> {
                      return {arith::AddFOp::create(
                          b, t[0], b.extract(acc[0], {at(b, sequence), n}))};
                    })[0];
                Value positive = arith::CmpFOp::create(
                    b, arith::CmpFPredicate::OGT, sum, b.f32(0.0));
                Value divisor =
                    arith::SelectOp::create(b, positive, sum, b.f32(1.0));
                return b.forLoop(zero, batch, {acc[0]},
                    [&](LoweringBuilder &b, Value sequence, ValueRange g)
                        -> SmallVector<Value> {
                      Value row = at(b, sequence);
                      Value value = arith::DivFOp::create(
                          b, b.extract(g[0], {row, n}), divisor);
                      return {b.insert(value, g[0], {row, n})};
                    });
              });
        })[0];

    Value acc = b.filled(b.sizes(flat), b.getF32Type(), 0.0);
    acc = b.forLoop(zero, heads, {acc},
        [&](LoweringBuilder &b, Value n, ValueRange outer) -> SmallVector<Value> {
          return b.forLoop(zero, batch, outer,
              [&](LoweringBuilder &b, Value sequence, ValueRange state)
                  -> SmallVector<Value> {
                Value base = arith::MulIOp::create(b, sequence, seq);
                Value values = column(b, gate, base, seq, n);
                auto [rows, positions] =
                    gatherTop(b, values, capacity, flat, base);
                Value q = rope(b, b.matmulF32(rows, b.leadingSlice(op.getQuery(), n), false),
                               theta, headDim);
                Value k = rope(b, b.matmulF32(rows, b.leadingSlice(op.getKey(), n), false),
                               theta, headDim);
                Value v = b.matmulF32(rows, b.leadingSlice(op.getValue(), n), false);
                Value attended = attend(b, q, k, v, headDim);
                Value projected = b.matmulF32(
                    attended, b.leadingSlice(op.getOutput(), n), false);
                return {scatterAdd(b, state[0], projected, positions, base)};
              });
        })[0];
    Type element = op.getResult().getType().getElementType();
    rewriter.replaceOp(op,
                       unflattenTokens(b, b.castElements(acc, element), tokens));
    return success();
  }
};
} // namespace

void mlir::moe::populateUnionLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerUnionFFN, LowerUnionAttention>(patterns.getContext());
}
