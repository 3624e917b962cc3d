#!/usr/bin/env bash
# There (the GPU machine): composition of experts served from host memory
# (issue #9 item 3, docs/composition.md), for the bundles of
# scripts/gpu/prepare-compose.sh:
#   1. the small composition passes --check against the C++ reference with
#      the HBM tier cache off and on, and compute-sanitizer memcheck is clean;
#   2. the full-size composition serves the request list MOE_COMPOSE_ROUTE
#      these ways: naive (the models' weights are plain inputs in pageable
#      memory: every request copies its whole model up before computing);
#      streamed with the cache off (each run copies the host weights into
#      page-locked blocks, then streams each layer up overlapped with the
#      compute of the layers before); pinned (a cache of 1 byte: the weights
#      are page-locked once and every fetch misses, so every request streams
#      its whole model up from page-locked memory); cached (an HBM cache of
#      MOE_COMPOSE_CACHE, default 6G: about two of the three models), warm
#      and from a cold start; and all resident (a cache that holds every
#      model: the compute alone). Per request: latency, fetches, cache hits.
# Expects build-gpu/ (bench.sh or build-runtime.sh). Logs go to $OUT.
set -uo pipefail
source "$(dirname "$0")/prologue.sh"
dir="$root/.gpu/compose"
route="${MOE_COMPOSE_ROUTE:-chat,coder,chat,math,chat,coder,chat,math,coder,chat,math,chat}"
cache="${MOE_COMPOSE_CACHE:-6G}"
# Every kernel loads when the session starts, so that no request pays a
# model's first launches.
export CUDA_MODULE_LOADING=EAGER
status=0
for small in "--tier-cache 0" "--tier-cache 64M"; do
  if "$bin/moe-run" "$dir/small.bundle" --function serve --device cuda --seed 3 --check \
      --route chat,coder,math,chat,math,coder $small >"$logs/compose.small.log" 2>&1; then
    echo "small composition $small --check: PASS"
  else
    echo "small composition $small --check: FAIL"; tail -3 "$logs/compose.small.log"; status=1
  fi
done
if command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --leak-check full "$bin/moe-run" "$dir/small.bundle" --function serve \
    --device cuda --seed 2 --check --route chat,coder,math,chat,math,chat --tier-cache 64M >"$logs/compose.memcheck.log" 2>&1
  echo "memcheck small composition: rc=$? $(grep -E 'ERROR SUMMARY|LEAK SUMMARY|check    PASS' "$logs/compose.memcheck.log" | tr '\n' ' ')"
fi
run() { # name bundle extra-args...
  local name=$1 bundle=$2
  shift 2
  "$bin/moe-run" "$dir/$bundle" --function serve --device cuda --seed 1 --route "$route" "$@" \
    >"$logs/compose.$name.log" 2>&1 || { echo "$name: FAIL"; tail -3 "$logs/compose.$name.log"; status=1; return; }
  echo "== $name ($bundle $*)"
  grep -E '^(request|serve|memory) ' "$logs/compose.$name.log"
}
# Each way serves the list twice (--repeat 2 after a warm-up on cuda: three
# times) and reports the last: a server's steady state, with the page-locked
# copies of the host weights made and the cache holding what the previous
# pass left. The first pass's per-request lines are in the logs (--repeat 1).
run naive naive.bundle --repeat 2
run streamed serve.bundle --tier-cache 0 --repeat 2
run pinned serve.bundle --tier-cache 1 --repeat 2
run cached serve.bundle --tier-cache "$cache" --repeat 2
run cold-cached serve.bundle --tier-cache "$cache"
run resident serve.bundle --tier-cache 64G --repeat 2
exit $status
