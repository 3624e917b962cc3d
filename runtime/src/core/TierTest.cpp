//===- TierTest.cpp - a run's fetches of host-tier buffers ----------------===//
//
// The bookkeeping behind moert_tier_fetch_start/_wait (Tier.h): handles,
// stats, and every misuse failing the run with a message instead of a crash.
//
//===----------------------------------------------------------------------===//

#include "Tier.h"
#include "TierAbi.h"

#include <gtest/gtest.h>

#include <vector>

namespace {

using moert::tier::immediateCopier;
using FetchRun = moert::tier::Run;
using moert::tier::RunScope;

// Tests that a fetch copies, counts, and ends the run cleanly once waited.
TEST(TierRun, FetchCopiesAndCounts) {
  std::vector<float> host = {1, 2, 3, 4}, device(4, 0);
  FetchRun run(immediateCopier());
  int64_t handle = run.start(host.data(), device.data(), 16);
  EXPECT_EQ(handle, 1);
  run.wait(handle);
  std::string error;
  EXPECT_TRUE(run.finish(error)) << error;
  EXPECT_EQ(device, host);
  EXPECT_EQ(run.stats().fetches, 1u);
  EXPECT_EQ(run.stats().bytes, 16u);
}

// Tests the C ABI: 0 outside a run, the run's handles inside its scope.
TEST(TierRun, AbiFindsTheRunOfTheThread) {
  float a = 5, b = 0;
  EXPECT_EQ(moert_tier_fetch_start(&a, &b, sizeof(float)), 0);
  moert_tier_fetch_wait(1); // outside a run: nothing to do
  FetchRun run(immediateCopier());
  {
    RunScope scope(run);
    int64_t handle = moert_tier_fetch_start(&a, &b, sizeof(float));
    EXPECT_EQ(handle, 1);
    moert_tier_fetch_wait(handle);
  }
  std::string error;
  EXPECT_TRUE(run.finish(error)) << error;
  EXPECT_EQ(b, 5);
}

// Tests each misuse: a handle never returned, a second wait, a fetch never
// waited, invalid arguments; and that nothing is copied after a failure.
TEST(TierRun, MisuseFailsTheRun) {
  float a = 1, b = 0;
  std::string error;
  {
    FetchRun run(immediateCopier());
    run.wait(3);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_wait: handle 3 was never returned by "
                     "moert_tier_fetch_start in this run");
    EXPECT_EQ(run.start(&a, &b, sizeof(float)), 0);
    EXPECT_EQ(b, 0);
  }
  {
    FetchRun run(immediateCopier());
    int64_t handle = run.start(&a, &b, sizeof(float));
    run.wait(handle);
    run.wait(handle);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_wait: fetch 1 is waited twice");
  }
  {
    FetchRun run(immediateCopier());
    run.start(&a, &b, sizeof(float));
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "fetch 1 (moert_tier_fetch_start) was started and never "
                     "waited");
  }
  {
    FetchRun run(immediateCopier());
    EXPECT_EQ(run.start(nullptr, &b, 4), 0);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_start of 4 bytes (fetch 1 of the run): "
                     "invalid arguments");
  }
}

} // namespace
