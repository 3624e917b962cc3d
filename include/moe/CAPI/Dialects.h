/*===- Dialects.h - MLIR C API of the moe dialect and compiler ----*- C -*-===*
 *
 * For hosts that bind from other languages through MLIR's C API (mlir-c/):
 * the dialect handle in MLIR's usual form, pass registration, and compiling a
 * module to an artifact bundle in memory. Link MoEMLIR::CAPI together with
 * MLIR's C API libraries (see docs/embedding.md).
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_CAPI_DIALECTS_H
#define MOE_CAPI_DIALECTS_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mlirGetDialectHandle__moe__(): the moe dialect alone. */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(MoE, moe);

/* Adds the moe dialect and every upstream dialect, interface, extension and
 * LLVM IR translation that compiling to a bundle uses to `registry`. */
MLIR_CAPI_EXPORTED void mlirMoERegisterDialects(MlirDialectRegistry registry);

/* Registers the moe passes and pipelines (`moe-cpu-pipeline`, ...) with the
 * global pass registry, for textual pipelines. Idempotent. */
MLIR_CAPI_EXPORTED void mlirMoERegisterPasses(void);

/* Compiles `module` for the host CPU and hands the whole bundle (the bytes of
 * `moe-translate --moe-to-bundle`) to `callback` in one call; the bytes live
 * only during the call. `module` is not modified. On failure nothing is
 * passed to `callback` and the reasons go to the context's diagnostic
 * handlers (mlirContextAttachDiagnosticHandler). The bytes load with
 * moert_bundle_load_memory (moert/moert.h). */
MLIR_CAPI_EXPORTED MlirLogicalResult mlirMoECompileToBundle(
    MlirModule module, MlirStringCallback callback, void *userData);

#ifdef __cplusplus
}
#endif

#endif /* MOE_CAPI_DIALECTS_H */
