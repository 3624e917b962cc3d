#!/usr/bin/env bash
# Regenerates docs/Dialects/MoE.md, docs/Dialects/MoEFlow.md, docs/Passes.md,
# docs/MoEFlowPasses.md and docs/ConversionPasses.md from ODS
# (mlir-tblgen -gen-dialect-doc / -gen-pass-doc).
# test/docs-in-sync.test fails when they are stale.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MOE_BUILD_DIR:-$root/build}"
# The *DocGen targets regenerate each page from its .td; mlir-doc alone has
# been seen to leave a page stale.
cmake --build "$build" --target mlir-doc MoEDialectDocGen MoEFlowDialectDocGen \
  MoEPassesDocGen MoEFlowPassesDocGen MoEConversionPassesDocGen
mkdir -p "$root/docs/Dialects"
cp "$build/dialects/moe/IR/MoE.md" "$root/docs/Dialects/MoE.md"
cp "$build/dialects/moeflow/IR/MoEFlow.md" "$root/docs/Dialects/MoEFlow.md"
cp "$build/dialects/moe/Transforms/MoEPasses.md" "$root/docs/Passes.md"
cp "$build/dialects/moeflow/Transforms/MoEFlowPasses.md" "$root/docs/MoEFlowPasses.md"
cp "$build/include/moe/Conversion/MoEConversionPasses.md" "$root/docs/ConversionPasses.md"
echo "docs/ updated"
