//===- AttrsTest.cpp - C++ API of the moe attributes ----------------------===//
//
// What IR tests cannot reach: the attribute helpers that passes and hosts call
// from C++ (defaults, derived values, checked construction).
//
//===----------------------------------------------------------------------===//

#include "moe/IR/MoEAttrs.h"
#include "moe/IR/MoEDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::moe;

namespace {
class MoEAttrsTest : public ::testing::Test {
protected:
  MoEAttrsTest() { context.loadDialect<MoEDialect>(); }

  /// Collects the messages of diagnostics emitted while `fn` runs.
  template <typename Fn>
  std::vector<std::string> diagnosticsOf(Fn fn) {
    std::vector<std::string> messages;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      messages.push_back(diag.str());
      return success();
    });
    fn();
    return messages;
  }

  RoutingAttr deepSeekV3() {
    return RoutingAttr::get(&context, Scoring::sigmoid, /*topK=*/8,
                            /*renormalize=*/true,
                            FloatAttr::get(Float64Type::get(&context), 2.5),
                            /*numGroups=*/8, /*keptGroups=*/4,
                            GroupScore::top2_sum, /*topP=*/nullptr, 0, 0, 0);
  }

  MLIRContext context;
};
} // namespace

TEST_F(MoEAttrsTest, RoutingDefaults) {
  auto mixtral = RoutingAttr::get(&context, Scoring::softmax, 2, true, nullptr,
                                  1, std::nullopt, GroupScore::top2_sum,
                                  nullptr, 0, 0, 0);
  EXPECT_DOUBLE_EQ(mixtral.getScale(), 1.0);
  EXPECT_EQ(mixtral.getNumKeptGroups(), 1);
  EXPECT_FALSE(mixtral.isGroupLimited());
  EXPECT_EQ(mixtral.getNumNullExperts(), 0);
}

TEST_F(MoEAttrsTest, RoutingGroupLimited) {
  RoutingAttr routing = deepSeekV3();
  EXPECT_DOUBLE_EQ(routing.getScale(), 2.5);
  EXPECT_TRUE(routing.isGroupLimited());
  EXPECT_EQ(routing.getNumKeptGroups(), 4);
  auto emit = [&] { return emitError(UnknownLoc::get(&context)); };
  EXPECT_TRUE(succeeded(routing.verifyAgainst(emit, 256)));
  // 8 groups cannot split 12 experts.
  std::vector<std::string> messages = diagnosticsOf(
      [&] { EXPECT_TRUE(failed(routing.verifyAgainst(emit, 12))); });
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "num_groups (8) does not divide the 12 routed experts");
}

TEST_F(MoEAttrsTest, RoutingCheckedConstructionRejects) {
  auto emit = [&] { return emitError(UnknownLoc::get(&context)); };
  std::vector<std::string> messages = diagnosticsOf([&] {
    RoutingAttr bad = RoutingAttr::getChecked(
        emit, &context, Scoring::softmax, /*topK=*/int64_t(0), false,
        FloatAttr(), /*numGroups=*/int64_t(1), std::optional<int64_t>(),
        GroupScore::top2_sum, FloatAttr(), int64_t(0), int64_t(0), int64_t(0));
    EXPECT_FALSE(bad);
  });
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "top_k must be at least 1, got 0");
}

TEST_F(MoEAttrsTest, ParallelWorldSize) {
  auto plan = ParallelAttr::get(&context, 2, 1, 4, 2, 1, 8, 1);
  EXPECT_EQ(plan.getWorldSize(), 16);
  auto emit = [&] { return emitError(UnknownLoc::get(&context)); };
  std::vector<std::string> messages = diagnosticsOf([&] {
    int64_t tp = 2, cp = 1, dp = 1, pp = 1, etp = 1, ep = 4, edp = 1;
    EXPECT_FALSE(
        ParallelAttr::getChecked(emit, &context, tp, cp, dp, pp, etp, ep, edp));
  });
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "attention world tp*cp*dp*pp = 2 differs from MoE "
                         "world etp*ep*edp*pp = 4");
}
