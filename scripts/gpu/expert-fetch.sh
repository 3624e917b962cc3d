#!/usr/bin/env bash
# There (the GPU machine): expert fetches of streamed layers (issue #9 item
# 2, docs/memory-tiers.md §7), for the bundles of
# scripts/gpu/prepare-expert-fetch.sh:
#   1. the small f32 stack, whole and predicted fetches: --check against the
#      C++ reference, the same output bits, and compute-sanitizer (memcheck,
#      and initcheck: no kernel reads an expert slice that was not copied);
#   2. the Qwen3-shaped stacks at T 1, 4, 16: resident, and streamed with
#      all / routed / predicted expert fetches, --repeat MOE_BENCH_REPEAT
#      (default 5): the median run time, the bytes copied from host memory,
#      the prediction's hits, misses and unused copies, and whether the
#      outputs are bit for bit those of the whole fetch; with seeded random
#      weights, then with down weights MOE_FETCH_SCALE times larger.
# Expects build-gpu/ (bench.sh or build-runtime.sh). Logs go to $OUT.
set -uo pipefail
source "$(dirname "$0")/prologue.sh"
dir="$root/.gpu/expert-fetch"
status=0
run() { # bundle log args...
  local bundle="$1" log="$2"
  shift 2
  timeout 300 "$bin/moe-run" "$dir/$bundle.bundle" --device cuda --seed 1 "$@" \
    >"$logs/$log.log" 2>&1
}
for fetch in all predicted; do
  if run "small.$fetch" "small.$fetch" --check --print-outputs; then
    echo "small f32 $fetch: $(grep -E '^check    PASS' "$logs/small.$fetch.log")" \
      "$(grep -oE 'experts: .*\)' "$logs/small.$fetch.log")"
  else
    echo "small f32 $fetch: FAIL"; tail -3 "$logs/small.$fetch.log"; status=1
  fi
done
if diff <(grep '^values' "$logs/small.all.log") \
    <(grep '^values' "$logs/small.predicted.log") >/dev/null; then
  echo "small f32: predicted outputs bit for bit those of whole fetches"
else
  echo "small f32: outputs differ FAIL"; status=1
fi
if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck initcheck; do
    compute-sanitizer --tool "$tool" "$bin/moe-run" \
      "$dir/small.predicted.bundle" --device cuda --seed 2 --check \
      >"$logs/small.$tool.log" 2>&1
    echo "$tool small predicted: rc=$? $(grep -E 'ERROR SUMMARY|check    PASS' \
      "$logs/small.$tool.log" | tr '\n' ' ')"
  done
fi
# table LABEL ARGS...: the Qwen3-shaped stacks, whole fetches first (the
# bits the others must match), with moe-run ARGS.
table() {
  local label="$1"
  shift
  printf '%-24s %10s %12s %s\n' "bundle $label" "median ms" "fetched GB" \
    "experts"
  for tokens in 1 4 16; do
    for fetch in all resident routed predicted; do
      name="qwen3-t$tokens.$fetch"
      log="$name$label"
      if ! run "$name" "$log" --repeat "${MOE_BENCH_REPEAT:-5}" \
          --print-outputs "$@"; then
        echo "$name: FAIL"; tail -3 "$logs/$log.log"; status=1; continue
      fi
      ms=$(grep -oE 'median [0-9.]+' "$logs/$log.log" | awk '{print $2}')
      fetched=$(grep -E '^memory' "$logs/$log.log" |
        grep -oE 'fetches \([0-9]+ bytes' | grep -oE '[0-9]+' || echo 0)
      experts=$(grep -oE 'experts: .*\)' "$logs/$log.log" || true)
      l2=$(grep -oE '^output .* l2 [0-9.e+-]+' "$logs/$log.log" |
        grep -oE 'l2 [0-9.e+-]+$')
      same=""
      if [ "$fetch" != all ]; then
        if diff <(grep '^values' "$logs/$log.log") \
            <(grep '^values' "$logs/qwen3-t$tokens.all$label.log") \
            >/dev/null; then
          same="(outputs = all's)"
        else
          same="(outputs differ from all's)"; status=1
        fi
      fi
      awk -v n="$name" -v ms="$ms" -v f="${fetched:-0}" \
        -v e="$experts $same, output $l2" \
        'BEGIN {printf "%-24s %10s %12.3f %s\n", n, ms, f / 1e9, e}'
    done
  done
}
table ""
# Seeded random weights barely change the hidden state from layer to layer
# (a few percent of its norm), which flatters the prediction; down weights
# MOE_FETCH_SCALE (default 16) times larger make each layer change it by
# about as much as a trained model's do.
scale="${MOE_FETCH_SCALE:-16}"
weights="${TMPDIR:-/tmp}/expert-fetch-down-x$scale.safetensors"
if python3 "$root/scripts/make-scaled-down-weights.py" --layers 6 \
    --hidden 2048 --ffn 768 --experts 128 --scale "$scale" --dtype bf16 \
    -o "$weights"; then
  table ".x$scale" --weights "$weights"
else
  echo "scaled down weights: FAIL"; status=1
fi
exit $status
