#!/usr/bin/env bash
# There (the GPU machine): the memory-tier plan on a GPU (issue #9 item 2,
# docs/memory-tiers.md). For the bundles of scripts/gpu/prepare-offload.sh:
#   1. the resident (unplanned) decode bundle under a device memory limit of
#      MOE_OFFLOAD_LIMIT (default 7G) must fail: its weights do not fit;
#   2. the planned decode bundle under the same limit runs and passes --check
#      against the C++ reference;
#   3. compute-sanitizer memcheck on a small planned bundle (--check);
#   4. planned and resident bundles, decode and prefill, timed without a
#      limit (--repeat MOE_BENCH_REPEAT, default 3): the layer time, the bytes
#      fetched from host memory and the peak device memory.
# Expects build-gpu/ (bench.sh or build-runtime.sh). Logs go to $OUT.
set -uo pipefail
source "$(dirname "$0")/prologue.sh"
dir="$root/.gpu/offload"
limit="${MOE_OFFLOAD_LIMIT:-7G}"
status=0
if "$bin/moe-run" "$dir/stacked-decode.resident.bundle" --device cuda --seed 1 \
    --device-memory-limit "$limit" >"$logs/offload.resident-limited.log" 2>&1; then
  echo "resident decode under $limit: ran (expected out of memory) FAIL"; status=1
else
  echo "resident decode under $limit: $(grep -oE 'out of memory.*' "$logs/offload.resident-limited.log" | head -1 | cut -c1-200)"
fi
if "$bin/moe-run" "$dir/stacked-decode.planned.bundle" --device cuda --seed 1 --check \
    --device-memory-limit "$limit" >"$logs/offload.planned-check.log" 2>&1; then
  echo "planned decode under $limit, --check: PASS"
else
  echo "planned decode under $limit, --check: FAIL"; status=1
fi
grep -E '^(time|memory|check ) ' "$logs/offload.planned-check.log"
if command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --leak-check full "$bin/moe-run" "$dir/stacked-small.planned.bundle" \
    --device cuda --seed 2 --check >"$logs/offload.memcheck.log" 2>&1
  echo "memcheck planned small: rc=$? $(grep -E 'ERROR SUMMARY|LEAK SUMMARY|check    PASS|memory ' "$logs/offload.memcheck.log" | tr '\n' ' ')"
fi
printf '%-26s %10s %14s %16s\n' bundle "median ms" "fetched GB" "peak device GB"
for name in stacked-decode.resident stacked-decode.planned stacked-prefill.resident stacked-prefill.planned; do
  "$bin/moe-run" "$dir/$name.bundle" --device cuda --seed 1 --repeat "${MOE_BENCH_REPEAT:-3}" \
    >"$logs/offload.$name.log" 2>&1 || { echo "$name: FAIL"; tail -3 "$logs/offload.$name.log"; status=1; continue; }
  ms=$(grep -oE 'median [0-9.]+' "$logs/offload.$name.log" | awk '{print $2}')
  read -r fetched peak < <(grep -E '^memory' "$logs/offload.$name.log" |
    sed -E 's/.*\(([0-9]+) bytes\), peak device ([0-9]+) bytes/\1 \2/')
  awk -v n="$name" -v ms="$ms" -v f="$fetched" -v p="$peak" \
    'BEGIN {printf "%-26s %10s %14.2f %16.2f\n", n, ms, f / 1e9, p / 1e9}'
done
exit $status
