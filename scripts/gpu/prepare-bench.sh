#!/usr/bin/env bash
# Here (the machine with MLIR): compiles what scripts/gpu/bench.sh runs on the
# GPU machine into .gpu/ (ignored): the main job's example layers as cuda
# bundles (.gpu/examples, the shapes of scripts/run-example.sh) and the DESIGN
# §10 configurations at full size (.gpu/bench, moe-bench --compile-only), plus
# the runtime's build dependencies (.deps). The device call carries .gpu/examples,
# .gpu/bench and .deps.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${MOE_BUILD_DIR:-$root/build}/bin"
out="$root/.gpu/examples"
rm -rf "$out"
mkdir -p "$out"
bash "$root/scripts/gpu/import-models.sh" "$out"
for example in chain union null_experts mixtral deepseek_v3 qwen2_moe qwen3_moe olmoe; do
  cp "$root/examples/$example.mlir" "$out/example-$example.mlir"
done
for source in "$out"/*.mlir; do
  # MOE_BUNDLE_FLAGS: extra moe-translate flags (e.g. --bundle-tensor-cores).
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda ${MOE_BUNDLE_FLAGS:-} "$source" -o "${source%.mlir}.bundle"
done
# The persistent tensor-core kernels with a grid of 2 blocks: each block walks
# many tiles and the stage ring wraps across tiles, which the 132-block
# bundles' small layers never do.
for name in mixtral-8x7b qwen3-30b-a3b deepseek-v3; do
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda --bundle-multiprocessors=2 ${MOE_BUNDLE_FLAGS:-} \
    "$out/$name.mlir" -o "$out/$name-2sm.bundle"
  cp "$out/$name.mlir" "$out/$name-2sm.mlir"
done
PATH="$bin:$PATH" python3 "$root/tools/moe-bench/moe-bench.py" --target cuda --compile-only --bundle-dir "$root/.gpu/bench"
[ -d "$root/.deps" ] || bash "$root/scripts/gpu/build-runtime.sh" --prepare
du -sh "$root/.gpu/examples" "$root/.gpu/bench" "$root/.deps"
