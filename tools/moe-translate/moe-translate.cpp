//===- moe-translate.cpp - MoE-MLIR translation driver --------------------===//
//
// Translations in and out of MLIR: today the text round-trip check; the
// Hugging Face config importer and the artifact bundle writer join it.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/Bundle.h"
#include "moe/Target/HFImport.h"
#include "moe/Target/RoundTrip.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  mlir::moe::registerRoundTripTranslation();
  mlir::moe::registerHFImportTranslation();
  mlir::moe::registerBundleTranslation();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "MoE-MLIR translation driver\n"));
}
