//===- BundleDType.h - MLIR element types as bundle dtypes ------*- C++ -*-===//

#ifndef MOE_LIB_TARGET_BUNDLE_BUNDLEDTYPE_H
#define MOE_LIB_TARGET_BUNDLE_BUNDLEDTYPE_H

#include "moert/bundle_format.h"

#include "mlir/IR/Types.h"

namespace mlir::moe {

/// "f32", "f16", "bf16", "i32", "i64" (bundle_format.h spelling) for the
/// element types a bundle carries; null for any other.
inline const char *bundleDTypeOf(Type elementType) {
  if (elementType.isF32())
    return moert_dtype_name(MOERT_DTYPE_F32);
  if (elementType.isF16())
    return moert_dtype_name(MOERT_DTYPE_F16);
  if (elementType.isBF16())
    return moert_dtype_name(MOERT_DTYPE_BF16);
  if (elementType.isSignlessInteger(32) || elementType.isSignedInteger(32))
    return moert_dtype_name(MOERT_DTYPE_I32);
  if (elementType.isSignlessInteger(64) || elementType.isSignedInteger(64))
    return moert_dtype_name(MOERT_DTYPE_I64);
  return nullptr;
}

} // namespace mlir::moe

#endif // MOE_LIB_TARGET_BUNDLE_BUNDLEDTYPE_H
