//===- MoEToParallelLinalg.cpp - convert-moe-to-parallel-linalg -----------===//

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Conversion/Passes.h"

#include "Forms.h"
#include "Patterns.h"

#include "moe/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOPARALLELLINALG
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::populateMoEToParallelLinalgPatterns(RewritePatternSet &patterns,
                                                    bool tensorCores) {
  if (tensorCores) {
    populateGroupedMatmulPatterns(patterns);
    populateRouterLogitsGroupedMatmulPatterns(patterns);
  }
  populateExpertParallelFormPatterns(patterns);
  populateRoutingParallelFormPatterns(patterns);
  // The CPU forms of the router (independent token iterations), null experts
  // (independent tokens) and union of experts (sequential per expert, with
  // independent row loops) serve as they are.
  populateMoEToLinalgConversionPatterns(patterns);
}

namespace {
struct ConvertMoEToParallelLinalgPass
    : mlir::moe::impl::ConvertMoEToParallelLinalgBase<
          ConvertMoEToParallelLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    GreedyRewriteConfig config;
    config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    if (tensorCores) {
      // The grouped GEMMs first, then moe-fuse's gather folding, while the
      // moe.dispatch whose rows they read is still an op.
      RewritePatternSet gemms(&getContext());
      populateMoEDecomposePatterns(gemms, /*expandChains=*/true);
      populateGroupedMatmulPatterns(gemms);
      populateRouterLogitsGroupedMatmulPatterns(gemms);
      uint64_t maxColumns = gatherMaxColumns;
      populateMoEFusePatterns(gemms, [maxColumns](GroupedMatmulOp op) {
        int64_t columns =
            cast<ShapedType>(op.getInit().getType()).getDimSize(1);
        return !ShapedType::isDynamic(columns) &&
               uint64_t(columns) <= maxColumns;
      });
      if (failed(applyPatternsGreedily(getOperation(), std::move(gemms),
                                       config))) {
        getOperation()->emitError()
            << "convert-moe-to-parallel-linalg did not converge";
        return signalPassFailure();
      }
    }
    RewritePatternSet patterns(&getContext());
    populateMoEDecomposePatterns(patterns, /*expandChains=*/true);
    populateMoEToParallelLinalgPatterns(patterns, tensorCores);
    // Fused routers stay for convert-moe-to-gpu's kernel where it runs them.
    if (tensorCores)
      populateRouterUnfusionPatterns(patterns, runsFusedRouterKernel);
    else
      populateRouterUnfusionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config))) {
      getOperation()->emitError()
          << "convert-moe-to-parallel-linalg did not converge";
      return signalPassFailure();
    }
    WalkResult left = getOperation()->walk([&](Operation *op) {
      // moe.grouped_matmul and moe.fused_router are this pass's output
      // (convert-moe-to-gpu's input).
      if (!isa<MoEDialect>(op->getDialect()) ||
          isa<GroupedMatmulOp, FusedRouterOp>(op))
        return WalkResult::advance();
      op->emitError() << "'" << op->getName()
                      << "' has no GPU lowering yet "
                         "(convert-moe-to-parallel-linalg)";
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
