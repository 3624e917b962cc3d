//===- Dialects.cpp - MLIR C API of the moe dialect and compiler ----------===//

#include "moe/CAPI/Dialects.h"

#include "moe/Compiler/Compiler.h"
#include "moe/IR/MoEDialect.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/CAPI/Support.h"
#include "mlir/IR/BuiltinOps.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(MoE, moe, mlir::moe::MoEDialect)

void mlirMoERegisterDialects(MlirDialectRegistry registry) {
  mlir::moe::registerDialects(*unwrap(registry));
}

void mlirMoERegisterPasses(void) { mlir::moe::registerPasses(); }

MlirLogicalResult mlirMoECompileToBundle(MlirModule module,
                                         MlirStringCallback callback,
                                         void *userData) {
  if (!callback)
    return mlirLogicalResultFailure();
  mlir::FailureOr<std::string> bundle =
      mlir::moe::compileToBundle(unwrap(module));
  if (mlir::failed(bundle))
    return mlirLogicalResultFailure();
  callback(mlirStringRefCreate(bundle->data(), bundle->size()), userData);
  return mlirLogicalResultSuccess();
}
