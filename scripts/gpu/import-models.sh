#!/usr/bin/env bash
# Here: imports the main job's example models (examples/configs, scaled as in
# scripts/run-example.sh: 32 tokens, hidden size 256, smaller intermediate
# sizes and expert counts) as moe-dialect layers into OUT/<name>.mlir, for
# the GPU scripts. Usage: import-models.sh OUT [NAME...] (default: all of
# mixtral-8x7b qwen3-30b-a3b deepseek-v3 qwen1.5-moe olmoe).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${MOE_BUILD_DIR:-$root/build}/bin"
out="$1"
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(mixtral-8x7b qwen3-30b-a3b deepseek-v3 qwen1.5-moe olmoe)
mkdir -p "$out"
scale=(--hf-tokens=32 --hf-hidden-size=256)
for name in "${names[@]}"; do
  case "$name" in
    mixtral-8x7b) args=(Mixtral-8x7B-v0.1.json --hf-intermediate-size=512) ;;
    qwen3-30b-a3b) args=(Qwen3-30B-A3B.json --hf-intermediate-size=96 --hf-num-experts=64) ;;
    deepseek-v3) args=(DeepSeek-V3.json --hf-intermediate-size=128 --hf-num-experts=64) ;;
    qwen1.5-moe) args=(Qwen1.5-MoE-A2.7B.json --hf-intermediate-size=128 --hf-num-experts=30) ;;
    olmoe) args=(OLMoE-1B-7B-0924.json --hf-intermediate-size=128) ;;
    *) echo "import-models.sh: unknown model '$name'" >&2; exit 1 ;;
  esac
  "$bin/moe-translate" --import-hf-config "$root/examples/configs/${args[0]}" "${scale[@]}" \
    "${args[@]:1}" -o "$out/$name.mlir"
done
