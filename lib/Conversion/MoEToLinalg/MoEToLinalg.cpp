//===- MoEToLinalg.cpp - convert-moe-to-linalg ----------------------------===//

#include "moe/Conversion/MoEToLinalg/MoEToLinalg.h"
#include "moe/Conversion/Passes.h"

#include "Patterns.h"

#include "moe/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOLINALG
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::populateMoEToLinalgConversionPatterns(
    RewritePatternSet &patterns) {
  populateRouterLoweringPatterns(patterns);
  populateDispatchLoweringPatterns(patterns);
  populateExpertsLoweringPatterns(patterns);
  populateCombineLoweringPatterns(patterns);
  populateUnionLoweringPatterns(patterns);
}

namespace {
struct ConvertMoEToLinalgPass
    : mlir::moe::impl::ConvertMoEToLinalgBase<ConvertMoEToLinalgPass> {
  void runOnOperation() override {
    WalkResult unsupported = getOperation()->walk([](CompositionOp op) {
      return failed(checkCompositionLowering(op)) ? WalkResult::interrupt()
                                                  : WalkResult::advance();
    });
    if (unsupported.wasInterrupted())
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    // Whole blocks first become their parts, which the patterns then lower.
    populateMoEDecomposePatterns(patterns, /*expandChains=*/true);
    populateMoEToLinalgConversionPatterns(patterns);
    populateCompositionLoweringPatterns(patterns);
    // A fused router is its logits GEMM and router again on the CPU.
    populateRouterUnfusionPatterns(patterns);
    GreedyRewriteConfig config;
    config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config))) {
      getOperation()->emitError() << "convert-moe-to-linalg did not converge";
      return signalPassFailure();
    }
    // Whatever moe op is left has no CPU lowering: say which, do not leave it.
    WalkResult left = getOperation()->walk([&](Operation *op) {
      if (!isa<MoEDialect>(op->getDialect()))
        return WalkResult::advance();
      op->emitError() << "'" << op->getName()
                      << "' has no CPU lowering yet (convert-moe-to-linalg)";
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
