#!/usr/bin/env bash
# Here (the machine with MLIR): compiles what scripts/gpu/chain.sh runs on the
# GPU machine into .gpu/chain/ (ignored): chain-of-experts blocks (moe.chain,
# 2 iterations over 64 experts, top-4, bf16, T 256) whose expert weights fit
# the GPU's 50 MB L2 (H 1024, F 64: 25 MB), about fill it (F 128: 50 MB) or
# exceed it (H 2048, F 256: 201 MB), for the per-launch DRAM reads of each
# iteration (issue #9 item 4: does iteration 2 re-read its weights?); and four
# stacked chains, streamed from host memory and resident, for the bytes a
# streamed chain fetches (once for both iterations) and the same results.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${MOE_BUILD_DIR:-$root/build}/bin"
out="$root/.gpu/chain"
rm -rf "$out"
mkdir -p "$out"
chain() { # name hidden ffn (MOE_BUNDLE_FLAGS: extra moe-translate flags)
  python3 "$root/scripts/make-stacked-layers.py" --layers 1 --chain 2 --tokens 256 \
    --hidden "$2" --ffn "$3" --experts 64 --top-k 4 --dtype bf16 >"$out/$1.mlir"
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda ${MOE_BUNDLE_FLAGS:-} \
    "$out/$1.mlir" -o "$out/$1.bf16.cuda.bundle"
}
chain chain-fits-l2 1024 64
chain chain-fills-l2 1024 128
chain chain-exceeds-l2 2048 256
# Two K-slices per down-GEMM tile and 72 row tiles: the shape that hung the
# grouped GEMM kernel before every consumer warp released its stages.
chain chain-h2048-f128 2048 128
# Four chains of 50.9 MB of f32 weights each under a 120 MB budget: staging
# two chains leaves no room for a resident one, so all four stream. (f32:
# through 8 routed iterations, bf16 rounding flips routing choices enough to
# fail --check's bf16 bound on the CPU as on the GPU.)
python3 "$root/scripts/make-stacked-layers.py" --layers 4 --chain 2 --tokens 256 \
  --hidden 1024 --ffn 64 --experts 64 --top-k 4 --dtype f32 >"$out/stacked-chains.mlir"
for plan in planned:120000000 resident:0; do
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda --bundle-hbm-bytes="${plan##*:}" \
    "$out/stacked-chains.mlir" -o "$out/stacked-chains.${plan%%:*}.bundle"
done
du -sh "$out"
