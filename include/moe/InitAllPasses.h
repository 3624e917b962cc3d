//===- InitAllPasses.h - register every MoE-MLIR pass -----------*- C++ -*-===//

#ifndef MOE_INITALLPASSES_H
#define MOE_INITALLPASSES_H

#include "moe/Conversion/Passes.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Transforms/Passes.h"
#include "moeflow/Transforms/Passes.h"

namespace mlir::moe {

/// Registers the project's passes with the global pass registry, so that
/// `--moe-decompose`, `moe-cpu-pipeline` and friends work in moe-opt and in pass pipelines.
inline void registerAllPasses() {
  registerMoEPasses();
  moeflow::registerMoEFlowPasses();
  registerMoEConversionPasses();
  registerPipelines();
}

} // namespace mlir::moe

#endif // MOE_INITALLPASSES_H
