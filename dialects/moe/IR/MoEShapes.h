//===- MoEShapes.h - shape arithmetic shared by verifiers and passes -*- C++ -*-===//

#ifndef MOE_IR_MOESHAPES_H
#define MOE_IR_MOESHAPES_H

#include "mlir/IR/BuiltinTypeInterfaces.h"

#include <algorithm>
#include <cstdint>
#include <optional>

namespace mlir::moe {

/// a * b for tensor dimensions: dynamic if either is dynamic or if the product
/// does not fit in int64_t (such a tensor cannot exist anyway).
inline int64_t mulDims(int64_t a, int64_t b) {
  int64_t product;
  if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b) ||
      __builtin_mul_overflow(a, b, &product))
    return ShapedType::kDynamic;
  return product;
}

/// Rows produced by `moe.dispatch` for T tokens, K slots and E experts:
/// T*K dropless, min(T*K, E*capacity) in capacity mode.
inline int64_t dispatchRowBound(int64_t tokens, int64_t topK, int64_t experts,
                                std::optional<uint64_t> capacity) {
  int64_t rows = mulDims(tokens, topK);
  if (!capacity || ShapedType::isDynamic(rows))
    return rows;
  // capacity >= rows already caps nothing; below that E*C cannot overflow
  // unless E is absurd, which mulDims reports as dynamic.
  if (*capacity >= static_cast<uint64_t>(rows))
    return rows;
  int64_t kept = mulDims(experts, static_cast<int64_t>(*capacity));
  return ShapedType::isDynamic(kept) ? rows : std::min(rows, kept);
}

} // namespace mlir::moe

#endif // MOE_IR_MOESHAPES_H
