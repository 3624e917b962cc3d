// Tests that --bundle-expert-fetch takes all, routed or predicted, and that
// an expert fetch needs a budget to stream under.

// RUN: not moe-translate --moe-to-bundle --bundle-expert-fetch=some %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=VALUE
// RUN: not moe-translate --moe-to-bundle --bundle-expert-fetch=predicted %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=BUDGET
// RUN: moe-translate --moe-to-bundle --bundle-expert-fetch=all %s -o /dev/null

// VALUE: error: --bundle-expert-fetch must be all, routed or predicted, got 'some'
// BUDGET: error: --bundle-expert-fetch=predicted needs an HBM budget (--bundle-hbm-bytes) to stream expert weights

func.func @layer(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  return %x : tensor<8x16xf32>
}
