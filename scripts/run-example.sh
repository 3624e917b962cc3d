#!/usr/bin/env bash
# The README's main-job command. Installs dependencies, builds, then for each example
# model: imports it (real Hugging Face configs, scaled down for CPU) or reads it from
# examples/, compiles it to an artifact bundle (moe-translate --moe-to-bundle: moe
# dialect -> linalg/scf -> LLVM -> shared object), runs it with moe-run on random
# weights from a seed, and checks it against the plain C++ reference (--check).
#
# The target is the GPU when one is present (nvidia-smi lists one: bundles are
# compiled with --bundle-target=cuda and run with moe-run --device cuda), the CPU
# otherwise; MOE_TARGET=cpu|cuda chooses.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MOE_BUILD_DIR:-$root/build}"

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" >/dev/null

target="${MOE_TARGET:-}"
if [ -z "$target" ]; then
  target=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    target=cuda
  fi
fi
case "$target" in
  cpu) where="the CPU" ;;
  cuda) where="the GPU ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))" ;;
  *) echo "run-example.sh: MOE_TARGET must be cpu or cuda, got '$target'" >&2; exit 1 ;;
esac

out="$build/examples"
mkdir -p "$out"
bin="$build/bin"
cpu_scale=(--hf-tokens=32 --hf-hidden-size=256)

# name | how to get the moe-dialect source
models=(
  "mixtral-8x7b|hf:Mixtral-8x7B-v0.1.json:--hf-intermediate-size=512"
  "qwen3-30b-a3b|hf:Qwen3-30B-A3B.json:--hf-intermediate-size=96 --hf-num-experts=64"
  "deepseek-v3|hf:DeepSeek-V3.json:--hf-intermediate-size=128 --hf-num-experts=64"
  "qwen1.5-moe|hf:Qwen1.5-MoE-A2.7B.json:--hf-intermediate-size=128 --hf-num-experts=30"
  "olmoe|hf:OLMoE-1B-7B-0924.json:--hf-intermediate-size=128"
  "chain-of-experts|file:chain.mlir"
  "union-of-experts|file:union.mlir"
  "null-experts|file:null_experts.mlir"
)

echo
echo "MoE-MLIR: compile and run example MoE layers on $where, checked against the C++ reference"
printf '%-18s %-32s %5s %7s %10s %11s %10s  %s\n' model source dtype tokens "time ms" "max error" bound result
failures=0
for entry in "${models[@]}"; do
  name="${entry%%|*}"
  how="${entry#*|}"
  source="$out/$name.mlir"
  bundle="$out/$name.bundle"
  log="$out/$name.log"
  : >"$log"
  status=FAIL
  case "$how" in
    hf:*)
      spec="${how#hf:}"
      config="${spec%%:*}"
      read -r -a extra <<<"${spec#*:}"
      origin="configs/$config"
      "$bin/moe-translate" --import-hf-config "$root/examples/configs/$config" \
        "${cpu_scale[@]}" "${extra[@]}" -o "$source" 2>>"$log" || true ;;
    file:*)
      origin="${how#file:}"
      cp "$root/examples/$origin" "$source" ;;
  esac
  tokens="-" time="-" error="-" bound="-" dtype="-"
  if [ -s "$source" ] &&
     "$bin/moe-translate" --moe-to-bundle --bundle-target="$target" "$source" -o "$bundle" \
       2>>"$log"; then
    # Every function of the bundle (null_experts.mlir has two).
    functions=$(grep -oE 'func\.func @[A-Za-z0-9_]+' "$source" | sed 's/func.func @//')
    status=PASS
    for function in $functions; do
      if ! "$bin/moe-run" "$bundle" --device "$target" --function "$function" --seed 1 --check \
           --repeat 3 >>"$log" 2>&1; then
        status=FAIL
      fi
    done
    # The first input holds the tokens: [T, H] or [B, S, D].
    first=$(grep -m1 -E '^input ' "$log" || true)
    dtype=$(awk '{print $3}' <<<"$first")
    tokens=$(grep -oE '\[[0-9, ]+\]' <<<"$first" | tr -d '[] ' |
             awk -F, '{t = 1; for (i = 1; i < NF; i++) t *= $i; print t}')
    time=$(grep -oE 'median [0-9.]+' "$log" | awk '{s += $2} END {if (NR) printf "%.2f", s}')
    error=$(grep -oE 'max_abs_err [0-9.e+-]+' "$log" | awk '{if ($2 > m) m = $2} END {printf "%.3g", m}')
    bound=$(grep -oE '\(bound [0-9.e+-]+' "$log" | awk '{print $2}' | sort -g | head -1)
  fi
  [ "$status" = PASS ] || failures=$((failures + 1))
  printf '%-18s %-32s %5s %7s %10s %11s %10s  %s\n' "$name" "$origin" "$dtype" "$tokens" "$time" "$error" \
    "$bound" "$status"
  [ "$status" = PASS ] || sed 's/^/    /' "$log" | tail -20
done

echo
echo "Sources, bundles and logs: ${out#$root/}/"
exit $(( failures > 0 ))
