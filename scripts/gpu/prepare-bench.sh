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
scale=(--hf-tokens=32 --hf-hidden-size=256)
"$bin/moe-translate" --import-hf-config "$root/examples/configs/Mixtral-8x7B-v0.1.json" "${scale[@]}" \
  --hf-intermediate-size=512 -o "$out/mixtral-8x7b.mlir"
"$bin/moe-translate" --import-hf-config "$root/examples/configs/Qwen3-30B-A3B.json" "${scale[@]}" \
  --hf-intermediate-size=96 --hf-num-experts=64 -o "$out/qwen3-30b-a3b.mlir"
"$bin/moe-translate" --import-hf-config "$root/examples/configs/DeepSeek-V3.json" "${scale[@]}" \
  --hf-intermediate-size=128 --hf-num-experts=64 -o "$out/deepseek-v3.mlir"
"$bin/moe-translate" --import-hf-config "$root/examples/configs/Qwen1.5-MoE-A2.7B.json" "${scale[@]}" \
  --hf-intermediate-size=128 --hf-num-experts=30 -o "$out/qwen1.5-moe.mlir"
"$bin/moe-translate" --import-hf-config "$root/examples/configs/OLMoE-1B-7B-0924.json" "${scale[@]}" \
  --hf-intermediate-size=128 -o "$out/olmoe.mlir"
for example in chain union null_experts mixtral deepseek_v3 qwen2_moe qwen3_moe olmoe; do
  cp "$root/examples/$example.mlir" "$out/example-$example.mlir"
done
for source in "$out"/*.mlir; do
  # MOE_BUNDLE_FLAGS: extra moe-translate flags (e.g. --bundle-tensor-cores).
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda ${MOE_BUNDLE_FLAGS:-} "$source" -o "${source%.mlir}.bundle"
done
PATH="$bin:$PATH" python3 "$root/tools/moe-bench/moe-bench.py" --target cuda --compile-only --bundle-dir "$root/.gpu/bench"
[ -d "$root/.deps" ] || bash "$root/scripts/gpu/build-runtime.sh" --prepare
du -sh "$root/.gpu/examples" "$root/.gpu/bench" "$root/.deps"
