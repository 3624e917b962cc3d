#!/usr/bin/env bash
# There (the GPU machine, no MLIR): builds the runtime and moe-run
# (build-runtime.sh), runs every example bundle of .gpu/examples on the GPU with
# --check against the C++ reference, under compute-sanitizer memcheck for one
# layer of each family, then moe-bench --target cuda --run-only on the full-size
# bundles of .gpu/bench. Logs go to $OUT (or .gpu/logs). Prepare here first with
# scripts/gpu/prepare-bench.sh. MOE_GPU_MEMCHECK=0 skips the sanitizer runs,
# MOE_BENCH_REPEAT sets the timed runs (default 5), MOE_BENCH_CONFIGS passes
# --config NAME options to moe-bench, MOE_RUN_TIMEOUT / MOE_BENCH_TIMEOUT bound
# each moe-run and the bench in seconds.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
logs="${OUT:-$root/.gpu/logs}"
mkdir -p "$logs"
export NCCL_NVLS_ENABLE=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$logs/gpu.txt"
bash "$root/scripts/gpu/build-runtime.sh" -DMOE_ENABLE_UNIT_TESTS=OFF >"$logs/build.log" 2>&1 ||
  { tail -30 "$logs/build.log"; exit 1; }
bin="$root/build-gpu/bin"
status=0
printf '%-28s %-10s %12s %12s  %s\n' bundle function "median ms" "max error" result | tee "$logs/examples.txt"
for bundle in "$root"/.gpu/examples/*.bundle; do
  name="$(basename "$bundle" .bundle)"
  functions=$(grep -oE 'func\.func @[A-Za-z0-9_]+' "${bundle%.bundle}.mlir" 2>/dev/null | sed 's/func.func @//')
  [ -n "$functions" ] || functions=default
  for function in $functions; do
    args=()
    [ "$function" = default ] || args=(--function "$function")
    # A hung kernel (a pipeline that never completes) fails the bundle
    # instead of the whole run.
    if timeout "${MOE_RUN_TIMEOUT:-300}" "$bin/moe-run" "$bundle" --device cuda "${args[@]}" --seed 1 --check --repeat 5 \
        >"$logs/$name.$function.log" 2>&1; then result=PASS; else result=FAIL; status=1; fi
    time=$(grep -oE 'median [0-9.]+' "$logs/$name.$function.log" | awk '{print $2}' | head -1)
    error=$(grep -oE 'max_abs_err [0-9.e+-]+' "$logs/$name.$function.log" | awk '{if ($2 > m) m = $2} END {printf "%.3g", m}')
    printf '%-28s %-10s %12s %12s  %s\n' "$name" "$function" "${time:--}" "$error" "$result" | tee -a "$logs/examples.txt"
    [ "$result" = PASS ] || tail -5 "$logs/$name.$function.log"
  done
done
if [ "${MOE_GPU_MEMCHECK:-1}" = 1 ] && command -v compute-sanitizer >/dev/null; then
  for name in mixtral-8x7b qwen3-30b-a3b deepseek-v3 qwen1.5-moe example-chain example-union; do
    timeout "${MOE_RUN_TIMEOUT:-300}" compute-sanitizer --tool memcheck --leak-check full "$bin/moe-run" "$root/.gpu/examples/$name.bundle" \
      --device cuda --seed 2 --check >"$logs/memcheck.$name.log" 2>&1
    echo "memcheck $name: rc=$? $(grep -E 'ERROR SUMMARY|LEAK SUMMARY|bytes leaked' "$logs/memcheck.$name.log" | tr '\n' ' ')" |
      tee -a "$logs/memcheck.txt"
  done
fi
cp "$root/tools/moe-bench/moe-bench.py" "$bin/moe-bench"
PATH="$bin:$PATH" timeout "${MOE_BENCH_TIMEOUT:-3600}" python3 "$bin/moe-bench" --target cuda --run-only --bundle-dir "$root/.gpu/bench" \
  --repeat "${MOE_BENCH_REPEAT:-5}" ${MOE_BENCH_CONFIGS:-} 2>&1 | tee "$logs/bench.txt"
exit $status
