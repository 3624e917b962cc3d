// Tests that memory tiers a bundle cannot carry are located errors.

// RUN: moe-translate --moe-to-bundle %s -split-input-file -verify-diagnostics -o /dev/null

// Tests that an input cannot live in on-chip memory.
func.func @sram(%x: tensor<4xf32>,
                // expected-error @+1 {{argument 1 of function 'sram': an input cannot live in sram; use hbm or host}}
                %w: tensor<4xf32> {moe.tier = #moe.tier<sram>}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
