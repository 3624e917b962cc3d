#!/usr/bin/env bash
# Here (the machine with MLIR): compiles what scripts/gpu/expert-fetch.sh runs
# on the GPU machine into .gpu/expert-fetch/ (ignored): MOE_FETCH_LAYERS
# (default 6) stacked MoE layers shaped like Qwen3-30B-A3B's (H 2048, F 768,
# E 128, K 8, bf16: 1.21 GB of expert weights a layer) at T 1, 4 and 16
# tokens, each planned for an HBM budget of MOE_FETCH_HBM_BYTES (default
# 4 GB: layer 0 stays resident, the others stream from host memory) three
# ways (and unplanned, every weight resident): --bundle-expert-fetch=all (whole tensors), routed (the routed
# experts, after the router) and predicted (ahead, the experts the layer's
# router picks for the previous layer's input; then the misses); and a small
# f32 stack, all and predicted, for --check and compute-sanitizer.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${MOE_BUILD_DIR:-$root/build}/bin"
out="$root/.gpu/expert-fetch"
layers="${MOE_FETCH_LAYERS:-6}"
budget="${MOE_FETCH_HBM_BYTES:-4000000000}"
rm -rf "$out"
mkdir -p "$out"
for tokens in 1 4 16; do
  name="qwen3-t$tokens"
  python3 "$root/scripts/make-stacked-layers.py" --layers "$layers" \
    --tokens "$tokens" --hidden 2048 --ffn 768 --experts 128 --top-k 8 \
    --dtype bf16 >"$out/$name.mlir"
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda \
    "$out/$name.mlir" -o "$out/$name.resident.bundle"
  for fetch in all routed predicted; do
    "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda \
      --bundle-hbm-bytes="$budget" --bundle-expert-fetch="$fetch" \
      "$out/$name.mlir" -o "$out/$name.$fetch.bundle"
  done
done
# Small f32 stacks (H 256, F 512, E 16, K 2; 4 layers, all streamed under a
# 60 MB budget) for --check and compute-sanitizer.
python3 "$root/scripts/make-stacked-layers.py" --layers 4 --tokens 3 \
  --hidden 256 --ffn 512 --experts 16 --top-k 2 >"$out/small.mlir"
for fetch in all predicted; do
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda \
    --bundle-hbm-bytes=60000000 --bundle-expert-fetch="$fetch" \
    "$out/small.mlir" -o "$out/small.$fetch.bundle"
done
du -sh "$out"
