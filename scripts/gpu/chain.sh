#!/usr/bin/env bash
# There (the GPU machine): chain-of-experts weight reuse (issue #9 item 4) for
# the bundles of scripts/gpu/prepare-chain.sh:
#   1. each chain once under Nsight Compute (scripts/gpu/profile.sh with
#      MOE_PROFILE_DRAM=1): every launch's time and DRAM bytes read, in run
#      order, so the two iterations' expert GEMMs can be compared;
#   2. each chain timed (--repeat MOE_BENCH_REPEAT, default 20);
#   3. the stacked chains streamed from host memory and resident: --check,
#      the bytes fetched and the same output statistics.
# Expects build-gpu/ (bench.sh or build-runtime.sh). Logs go to $OUT.
set -uo pipefail
source "$(dirname "$0")/prologue.sh"
dir="$root/.gpu/chain"
MOE_PROFILE_DIR="$dir" MOE_PROFILE_DRAM=1 MOE_PROFILE_WARM=1 MOE_PROFILE_TOP=100 bash "$root/scripts/gpu/profile.sh"
for bundle in "$dir"/chain-*.bf16.cuda.bundle; do
  name="$(basename "$bundle" .bf16.cuda.bundle)"
  timeout 60 "$bin/moe-run" "$bundle" --device cuda --seed 1 --repeat "${MOE_BENCH_REPEAT:-20}" >"$logs/time.$name.log" 2>&1
  echo "$name: $(grep '^time' "$logs/time.$name.log")"
done
for plan in planned resident; do
  timeout 120 "$bin/moe-run" "$dir/stacked-chains.$plan.bundle" --device cuda --seed 1 --check --print-outputs \
    >"$logs/stacked-chains.$plan.log" 2>&1
  echo "stacked chains, $plan: rc $? $(grep -E '^(memory|check) ' "$logs/stacked-chains.$plan.log" | tr '\n' ' ')"
done
# The streamed run computes what the resident one does.
if diff <(grep '^output' "$logs/stacked-chains.planned.log") <(grep '^output' "$logs/stacked-chains.resident.log") >/dev/null; then
  echo "stacked chains: streamed and resident outputs agree"
else
  echo "stacked chains: streamed and resident outputs differ FAIL"
fi
