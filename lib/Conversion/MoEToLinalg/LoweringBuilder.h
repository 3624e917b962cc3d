//===- LoweringBuilder.h - small helpers for the moe CPU lowering -*- C++ -*-===//
//
// The moe lowerings build scalar loops over tensors (scf.for with tensor
// iter_args, tensor.extract/insert) and row operations (slices + linalg).
// This wraps the few builder calls they repeat so each lowering reads as its
// algorithm.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_LOWERINGBUILDER_H
#define MOE_LIB_CONVERSION_MOETOLINALG_LOWERINGBUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "moe/IR/MoEAttrs.h"

namespace mlir::moe {

class LoweringBuilder : public ImplicitLocOpBuilder {
public:
  using ImplicitLocOpBuilder::ImplicitLocOpBuilder;

  using LoopBody =
      function_ref<SmallVector<Value>(LoweringBuilder &, Value, ValueRange)>;
  using Branch = function_ref<SmallVector<Value>(LoweringBuilder &)>;

  /// Index constant.
  Value index(int64_t value);
  /// f32 constant.
  Value f32(double value);
  /// Constant of float or integer `type`.
  Value constant(Type type, double value);

  /// Size of dimension `dim` of `tensor` as an index value.
  Value dim(Value tensor, int64_t dim);
  /// All sizes of `tensor`, static ones as attributes.
  SmallVector<OpFoldResult> sizes(Value tensor);

  /// A tensor of `type` (dynamic sizes from `dynamicSizes`) filled with `value`.
  Value filled(RankedTensorType type, ValueRange dynamicSizes, double value);
  /// A tensor of `shape` and `elementType` filled with `value`.
  Value filled(ArrayRef<OpFoldResult> shape, Type elementType, double value);

  Value extract(Value tensor, ValueRange indices);
  Value insert(Value scalar, Value tensor, ValueRange indices);

  /// Widens a float scalar to f32 (no-op for f32).
  Value toF32(Value scalar);
  /// Narrows an f32 scalar to `type`.
  Value fromF32(Value scalar, Type type);
  /// Integer scalar to index and back.
  Value toIndex(Value scalar);
  Value fromIndex(Value scalar, Type integerType);

  /// scf.for from `lower` to `upper` (step 1) carrying `iterArgs`.
  SmallVector<Value> forLoop(Value lower, Value upper, ValueRange iterArgs,
                             LoopBody body);
  /// As forLoop, for a loop whose iterations are independent (each writes
  /// only its own part of `iterArgs` and reads nothing another iteration
  /// writes): marked `moe.independent_iterations`, which the GPU path runs
  /// in parallel.
  SmallVector<Value> independentForLoop(Value lower, Value upper,
                                        ValueRange iterArgs, LoopBody body);
  /// For each expert e in [0, numExperts) whose run of expert-sorted rows
  /// [offsets[e], offsets[e+1]) is not empty, in order: `value =
  /// body(e, start, count, value)` (one value carried, e.g. the output
  /// tensor); experts without rows leave it as it is.
  Value forEachExpertRun(
      Value offsets, Value numExperts, Value init,
      function_ref<Value(LoweringBuilder &, Value expert, Value start,
                         Value count, Value current)>
          body);
  /// A tensor of `type` whose element at each index is `body(indices)`: a
  /// linalg.generic with parallel iterators only, no inputs, and the indices
  /// from linalg.index. Every element is computed independently (GPU forms).
  /// With `rowsInnermost` (rank 2 only) the iteration space is (column, row):
  /// consecutive iterations walk down a column, so that after mapping to
  /// threads neighbouring lanes share the column (a weight column, read once
  /// per warp) instead of the row. `body` still gets (row, column).
  Value generate(RankedTensorType type, ValueRange dynamicSizes,
                 function_ref<Value(LoweringBuilder &, ValueRange)> body,
                 bool rowsInnermost = false);
  /// rows[r, :] = tokens[sources[r] / slotsPerToken, :], zero where
  /// sources[r] < 0 (the rows of a moe.dispatch from its sources), every
  /// element on its own.
  Value gatherTokenRows(Value tokens, Value sources, RankedTensorType rowsType,
                        ValueRange dynamicRows, Value slotsPerToken);
  /// scf.if whose branches yield values of the same types.
  SmallVector<Value> ifElse(Value condition, Branch thenBranch,
                            Branch elseBranch);

  /// Row `row` of a rank-2 tensor as a rank-1 slice.
  Value rowSlice(Value matrix, Value row);
  /// Writes rank-1 `row` into row `rowIndex` of `matrix`.
  Value insertRow(Value row, Value matrix, Value rowIndex);
  /// Slice `index` of the leading dimension of a rank-3 tensor (rank 2 result).
  Value leadingSlice(Value tensor, Value index);

  /// Elementwise map over tensors of equal shape into `init`; `body` gets the
  /// scalars of `inputs` then of `init` and returns the new element.
  Value map(ValueRange inputs, Value init,
            function_ref<Value(LoweringBuilder &, ValueRange)> body);
  /// Converts every element of `tensor` to `elementType` (extf/truncf).
  Value castElements(Value tensor, Type elementType);

  /// `lhs · rhs` into a fresh f32 accumulator; `rhs` is [K, N], or [N, K]
  /// when `transposeRhs`.
  Value matmulF32(Value lhs, Value rhs, bool transposeRhs);

  /// The largest element of the rank-1 float `values` in [lower, upper) not
  /// marked in the i1 tensor `taken` (null: none taken), compared in f32,
  /// ties to the lower index: the first free element is taken, a later one
  /// only when ordered-greater (so a NaN never replaces the running best,
  /// and is kept only when it is the first free element). Returns (index,
  /// f32 value); the index is `upper` if all are taken.
  std::pair<Value, Value> argMax(Value values, Value taken, Value lower,
                                 Value upper);
  /// acc[row, :] += weight * source, for an f32 [R, H] `acc`, a rank-1
  /// `source` of any float type and an f32 `weight`.
  Value addScaledRow(Value acc, Value row, Value source, Value weight);

  /// Activation of an f32 scalar (silu, gelu, gelu_tanh, relu).
  Value activation(Value x, Activation kind);

  /// One FFN over the rows of `x` [n, H]: `down(act(gate·x) ⊙ up·x)`, or
  /// `down(act(up·x))` without `gate`; 2-D weights in `layout`. GEMMs
  /// accumulate in f32; the intermediate and the result take x's element type.
  Value ffn(Value x, Value gate, Value up, Value down, Activation kind,
            WeightLayout layout);
  /// `output` [T, H] with row t scaled by sigmoid(tokens[t] · gateWeight),
  /// the gate in f32 (shared experts' optional sigmoid gate).
  Value scaleRowsBySigmoidGate(Value tokens, Value output, Value gateWeight);
};

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOLINALG_LOWERINGBUILDER_H
