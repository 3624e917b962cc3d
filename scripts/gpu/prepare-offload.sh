#!/usr/bin/env bash
# Here (the machine with MLIR): compiles what scripts/gpu/offload.sh runs on the
# GPU machine into .gpu/offload/ (ignored): MOE_OFFLOAD_LAYERS (default 3)
# stacked Mixtral-8x7B MoE layers (H 4096, F 14336, E 8, K 2, bf16: 2.82 GB
# of weights a layer), at decode (T 16) and prefill (T 4096), each as a cuda
# bundle planned for an HBM budget of MOE_OFFLOAD_HBM_BYTES (default 6 GiB:
# room for two layers' weights, so every layer streams from host memory) and
# as the unplanned bundle (every weight resident); and a small planned
# bundle for compute-sanitizer.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${MOE_BUILD_DIR:-$root/build}/bin"
out="$root/.gpu/offload"
layers="${MOE_OFFLOAD_LAYERS:-3}"
budget="${MOE_OFFLOAD_HBM_BYTES:-6442450944}"
rm -rf "$out"
mkdir -p "$out"
for shape in decode:16 prefill:4096; do
  name="stacked-${shape%%:*}"
  python3 "$root/scripts/make-stacked-layers.py" --layers "$layers" --tokens "${shape##*:}" \
    --hidden 4096 --ffn 14336 --experts 8 --top-k 2 --dtype bf16 >"$out/$name.mlir"
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda --bundle-hbm-bytes="$budget" \
    "$out/$name.mlir" -o "$out/$name.planned.bundle"
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda "$out/$name.mlir" -o "$out/$name.resident.bundle"
done
# A small planned bundle for compute-sanitizer (H 256, F 512: every layer
# streamed under a 1 MB budget).
python3 "$root/scripts/make-stacked-layers.py" --layers 3 --tokens 5 --hidden 256 --ffn 512 \
  --experts 8 --top-k 2 --dtype bf16 >"$out/stacked-small.mlir"
"$bin/moe-translate" --moe-to-bundle --bundle-target=cuda --bundle-hbm-bytes=13000000 \
  "$out/stacked-small.mlir" -o "$out/stacked-small.planned.bundle"
du -sh "$out"
