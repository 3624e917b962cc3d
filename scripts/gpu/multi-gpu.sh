#!/usr/bin/env bash
# There (a machine with several GPUs, no MLIR): builds the runtime and moe-run
# with MPI and NCCL, then, one process per GPU started by mpirun:
#   1. every bundle of .gpu/multi/checks with --check against the single-rank
#      reference (and the DeepSeek-V3-shaped test layer with all tokens routed
#      to one rank's experts);
#   2. faults: one rank killed mid-run (mpirun --enable-recovery, so that the
#      launcher leaves the others to notice), and one rank started with a
#      different bundle; each survivor must exit with a clear error within the
#      collective deadline (MOE_FAULT_TIMEOUT_S, default 10 s);
#   3. moe-bench --ranks N --run-only on .gpu/multi/bench: layer time, our
#      all-to-all bandwidth and torch.distributed's on the same splits;
#   4. stream: the streamed bundles of .gpu/multi/stream (moe-stream chunks)
#      with their started all-to-alls overlapped on NCCL's own stream, and
#      with MOERT_NCCL_OVERLAP=0 (started collectives run at their start),
#      beside the unstreamed bench bundle: median layer time, and --check on
#      the streamed main-job layers both ways.
# Prepare here with scripts/gpu/prepare-multi-gpu.sh. Logs go to $OUT (or
# .gpu/logs, at most 8 files: the device tool brings back 8). MOE_MULTI_RANKS
# (default 2) ranks; MOE_MULTI_STEPS (default "checks faults bench") picks the
# steps; MOE_BENCH_REPEAT timed runs. Every launch has a time limit, so a hang
# shows as a timeout in the logs instead of eating the device call.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
logs="${OUT:-$root/.gpu/logs}"
mkdir -p "$logs"
# NVLink multicast stays off in every process (the device tool's rule).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
ranks="${MOE_MULTI_RANKS:-2}"
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader | tee "$logs/gpu.txt"
bash "$root/scripts/gpu/build-runtime.sh" -DMOE_ENABLE_UNIT_TESTS=OFF -DMOE_ENABLE_MPI=ON \
  >"$logs/build.log" 2>&1 || { tail -30 "$logs/build.log"; exit 1; }
grep -E "MPI|NCCL|nccl" "$logs/build.log" | head -5
bin="$root/build-gpu/bin"
multi="$root/.gpu/multi"
# --bind-to none: Open MPI binds each rank to one core by default, where the
# CUDA driver's and NCCL's threads would share it with the polling host thread.
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none -x NCCL_NVLS_ENABLE
        -x TORCH_SYMM_MEM_DISABLE_MULTICAST -x NVSHMEM_DISABLE_NVLS -x MOERT_NCCL_OVERLAP)
export MOERT_NCCL_OVERLAP="${MOERT_NCCL_OVERLAP:-1}"
steps="${MOE_MULTI_STEPS:-checks faults bench stream}"
status=0
step() { echo "== $1 ($(date +%T))"; }

# 1. Correctness.
if [[ " $steps " == *" checks "* ]]; then
step checks
python3 "$multi/skew-bias.py" "$multi/skew-bias.safetensors"
: >"$logs/checks.log"
printf '%-32s %10s %12s  %s\n' bundle "median ms" "max error" result | tee "$logs/checks.txt"
check() { # name bundle [moe-run args...]
  local name="$1" bundle="$2"; shift 2
  local log="$logs/check.current.log" result=FAIL
  if timeout 120 "${mpirun[@]}" -np "$ranks" "$bin/moe-run" "$bundle" --device cuda --seed 7 --check --repeat 3 \
      "$@" >"$log" 2>&1 && grep -q "check    PASS" "$log"; then result=PASS; else status=1; fi
  local time error
  time=$(grep -oE 'median [0-9.]+' "$log" | awk '{print $2}' | head -1)
  error=$(grep -oE 'max_abs_err [0-9.e+-]+' "$log" | awk '{if ($2 > m) m = $2} END {printf "%.3g", m}')
  printf '%-32s %10s %12s  %s\n' "$name" "${time:--}" "$error" "$result" | tee -a "$logs/checks.txt"
  [ "$result" = PASS ] || tail -4 "$log"
  { echo "=== $name"; cat "$log"; } >>"$logs/checks.log"
  rm -f "$log"
}
for bundle in "$multi"/checks/*.bundle; do
  check "$(basename "$bundle" .bundle)" "$bundle"
done
for bundle in "$multi"/checks/test-deepseek_v3.*.bundle; do
  check "$(basename "$bundle" .bundle)-skewed" "$bundle" --weights "$multi/skew-bias.safetensors"
done
fi

# 2. Faults. The victim is the process of world rank 1.
if [[ " $steps " == *" faults "* ]]; then
step faults
deadline="${MOE_FAULT_TIMEOUT_S:-10}"
victim_bundle="$multi/checks/mixtral-8x7b.ep2.bundle"
{
  echo "fault: rank 1 killed (SIGKILL) mid-run, collective deadline ${deadline} s"
  start=$(date +%s.%N)
  timeout 120 "${mpirun[@]}" --enable-recovery -np "$ranks" "$bin/moe-run" "$victim_bundle" --device cuda --seed 1 \
    --repeat 1000000 --collective-timeout "$deadline" >"$logs/fault.kill.log" 2>&1 &
  launcher=$!
  victim=
  for _ in $(seq 300); do
    for p in $(pgrep -f "moe-run $victim_bundle"); do
      grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$p/environ" 2>/dev/null && victim=$p
    done
    [ -n "$victim" ] && grep -q "^world" "$logs/fault.kill.log" && break
    sleep 0.1
  done
  sleep 3 # inside the timed loop
  killed=$(date +%s.%N)
  kill -9 "$victim" && echo "killed pid $victim"
  wait "$launcher"
  echo "launcher exit $?; $(awk -v a="$(date +%s.%N)" -v b="$killed" "BEGIN{printf \"%.2f\", a - b}") s from the kill to the end"
  grep -E "error" "$logs/fault.kill.log" | head -4
  echo
  echo "fault: rank 1 started with a different bundle (ETP plan instead of EP)"
  other="$multi/checks/mixtral-8x7b.etp2.bundle"
  start=$(date +%s.%N)
  timeout 120 "${mpirun[@]}" -np 1 "$bin/moe-run" "$victim_bundle" --device cuda --seed 1 --collective-timeout "$deadline" : \
    -np $((ranks - 1)) "$bin/moe-run" "$other" --device cuda --seed 1 --collective-timeout "$deadline" \
    >"$logs/fault.bundle.log" 2>&1
  echo "launcher exit $?; $(awk -v a="$(date +%s.%N)" -v b="$start" "BEGIN{printf \"%.2f\", a - b}") s from the start to the end"
  grep -E "error" "$logs/fault.bundle.log" | head -4
} 2>&1 | tee "$logs/faults.txt"
fi

# 4. Streamed layers: overlapped started all-to-alls against synchronous ones.
if [[ " $steps " == *" stream "* ]]; then
step stream
{
  for bundle in "$multi"/stream/*-8x7b.*.bundle "$multi"/stream/qwen3-30b-a3b.*.bundle "$multi"/stream/deepseek-v3.*.bundle; do
    [ -f "$bundle" ] || continue
    for overlap in 1 0; do
      if MOERT_NCCL_OVERLAP=$overlap timeout 180 "${mpirun[@]}" -np "$ranks" "$bin/moe-run" "$bundle" --device cuda \
          --seed 7 --check >"$logs/stream.current.log" 2>&1 && grep -q "check    PASS" "$logs/stream.current.log"; then
        echo "check $(basename "$bundle" .bundle) overlap=$overlap: PASS"
      else
        echo "check $(basename "$bundle" .bundle) overlap=$overlap: FAIL"; tail -4 "$logs/stream.current.log"; status=1
      fi
    done
  done
  printf '%-34s %12s %12s %12s\n' config "unstreamed" "streamed" "overlapped"
  for bundle in "$multi"/stream/*-prefill.s*.bundle "$multi"/stream/*-decode.s*.bundle; do
    [ -f "$bundle" ] || continue
    name="$(basename "$bundle")"; name="${name%%.s*}"
    times=()
    for run in "plain 1" "stream 0" "stream 1"; do
      set -- $run
      file="$bundle"; [ "$1" = plain ] && file="$multi/bench/$name.bf16.cuda.ep2.bundle"
      MOERT_NCCL_OVERLAP=$2 timeout 180 "${mpirun[@]}" -np "$ranks" "$bin/moe-run" "$file" --device cuda --seed 1 \
        --repeat "${MOE_BENCH_REPEAT:-5}" >"$logs/stream.current.log" 2>&1
      times+=("$(grep -oE 'median [0-9.]+' "$logs/stream.current.log" | awk '{print $2}' | head -1)")
      [ -n "${times[-1]}" ] || { times[-1]=FAIL; tail -3 "$logs/stream.current.log"; status=1; }
    done
    printf '%-34s %12s %12s %12s\n' "$name" "${times[@]}"
  done
  rm -f "$logs/stream.current.log"
} 2>&1 | tee "$logs/stream.txt"
fi

# 3. Bench.
[[ " $steps " == *" bench "* ]] || exit $status
step bench
cp "$root/tools/moe-bench/moe-bench.py" "$bin/moe-bench"
PATH="$bin:$PATH" python3 "$bin/moe-bench" --target cuda --run-only --bundle-dir "$multi/bench" \
  --ranks "$ranks" --plan "${MOE_MULTI_BENCH_PLAN:-ep=2}" --repeat "${MOE_BENCH_REPEAT:-5}" \
  --launcher "timeout 180 ${mpirun[*]} -np {ranks}" ${MOE_BENCH_CONFIGS:-} 2>&1 | tee "$logs/bench.txt"
step done
exit $status
