#!/usr/bin/env bash
# Here (the machine with MLIR): compiles what scripts/gpu/compose.sh runs on the
# GPU machine into .gpu/compose/ (ignored): the composition of experts of
# scripts/make-composition.py (chat, coder and math models of MOE_COMPOSE_LAYERS
# (default 4) MoE layers each, H 4096, bf16: 2.7 to 3.2 GB of weights a model),
# serving MOE_COMPOSE_REQUESTS (default 12) requests of MOE_COMPOSE_TOKENS
# (default 16) tokens, as cuda bundles twice: with the models' weights in host
# memory (serve.bundle: streamed per layer, cacheable in HBM) and as plain
# inputs (naive.bundle: each run copies the chosen model's weights up before
# it computes); and a small host-tier one for --check and compute-sanitizer.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${MOE_BUILD_DIR:-$root/build}/bin"
out="$root/.gpu/compose"
rm -rf "$out"
mkdir -p "$out"
shape=(--requests "${MOE_COMPOSE_REQUESTS:-12}" --tokens "${MOE_COMPOSE_TOKENS:-16}"
       --hidden 4096 --layers "${MOE_COMPOSE_LAYERS:-4}" --dtype bf16)
python3 "$root/scripts/make-composition.py" "${shape[@]}" >"$out/serve.mlir"
python3 "$root/scripts/make-composition.py" "${shape[@]}" --weights-tier hbm >"$out/naive.mlir"
python3 "$root/scripts/make-composition.py" --requests 6 --tokens 5 --hidden 256 --layers 2 \
  --ffn-scale 0.25 --dtype bf16 >"$out/small.mlir"
for name in serve naive small; do
  "$bin/moe-translate" --moe-to-bundle --bundle-target=cuda "$out/$name.mlir" -o "$out/$name.bundle"
done
[ -d "$root/.deps" ] || bash "$root/scripts/gpu/build-runtime.sh" --prepare
du -sh "$out"
