#!/usr/bin/env bash
# On the GPU machine: builds the runtime (build-runtime.sh) and proves the CUDA
# backend on the real GPU, writing each step's log under $OUT (default:
# build-gpu/logs) and a summary last:
#   1. the runtime's unit tests (ctest): the CUDA tests on the real driver and
#      on the host driver, the CPU ones;
#   2. the GPU tests once more by hand (the fault test alone: it breaks its
#      process's CUDA context, as any illegal address does);
#   3. compute-sanitizer --tool memcheck --leak-check full on the GPU tests
#      (those whose errors are on purpose excepted) and on a moe-run;
#   4. moe-run --device cuda on the CUDA test bundle: --check, --repeat 20
#      (device time), and the errors.
# Usage (device tool): bash scripts/gpu/build-runtime.sh --prepare here, then
#   run(command="bash scripts/gpu/check-runtime.sh", carry=[".deps"]).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${MOE_GPU_BUILD_DIR:-$root/build-gpu}"
out="${OUT:-$build/logs}"
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
summary=()
# step NAME LOG COMMAND...: runs COMMAND, appends its output to $out/LOG.log
# (six logs at most: the device tool returns 8 files) and records its status.
step() {
  local name=$1 log=$2; shift 2
  local start=$SECONDS
  echo "===== $name: $*" >>"$out/$log.log"
  "$@" >>"$out/$log.log" 2>&1
  local rc=$?
  summary+=("$(printf '%-20s rc=%-3s %4ss' "$name" "$rc" $((SECONDS - start)))")
  return $rc
}

step environment environment bash -c 'nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nvcc --version | tail -2; cmake --version | head -1; c++ --version | head -1; nproc'
step build build bash "$root/scripts/gpu/build-runtime.sh" || { printf '%s\n' "${summary[@]}"; tail -40 "$out/build.log"; exit 1; }
gpu_tests="$build/runtime/src/cuda/moert-cuda-gpu-tests"
step ctest ctest ctest --test-dir "$build" --output-on-failure
step gpu-tests gpu-tests "$gpu_tests" --gtest_filter='-CudaGpuFault.*'
step gpu-fault-test gpu-tests "$gpu_tests" --gtest_filter='CudaGpuFault.*'
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
# The failing launch and the fault are on purpose: the sanitizer would report
# them as API errors.
step memcheck memcheck "$sanitizer" --tool memcheck --leak-check full --error-exitcode 3 \
  "$gpu_tests" --gtest_filter='-CudaGpuFault.*:CudaGpu.FailingLaunchNamesTheCall'

bundle="$build/cuda-test.bundle"
tb="$root/runtime/src/cuda/TestBundle"
python3 "$root/test/Runtime/Inputs/write-bundle.py" "$bundle" --target cuda-sm_90a \
  --manifest "$tb/manifest.json" --schedule "$tb/schedule.json" \
  --reference "$tb/reference.json" \
  --kernels "$build/runtime/src/cuda/libmoert-test-cuda-host.so"
run="$build/bin/moe-run"
step moe-run-add moe-run "$run" "$bundle" --function add --device cuda --check --repeat 20
step moe-run-jit moe-run "$run" "$bundle" --function add_jit --check --repeat 20
step moe-run-cluster moe-run "$run" "$bundle" --function add_cluster --check --repeat 20
step moe-run-bad-launch moe-run "$run" "$bundle" --function bad_launch
step moe-run-fault moe-run "$run" "$bundle" --function fault
step memcheck-moe-run memcheck "$sanitizer" --tool memcheck --leak-check full \
  --error-exitcode 3 "$run" "$bundle" --function add --check

echo "== logs in $out"
echo "-- environment"; cat "$out/environment.log"
echo "-- moe-run"; grep -E "^(=====|function|time|check|moe-run:)" "$out/moe-run.log"
echo "-- ctest"; tail -3 "$out/ctest.log"
echo "-- gpu-tests"; grep -E "^=====|PASSED|FAILED|SKIPPED" "$out/gpu-tests.log"
echo "-- memcheck"; grep -E "^=====|ERROR SUMMARY|LEAK SUMMARY|PASSED|FAILED" "$out/memcheck.log"
printf '%s\n' "${summary[@]}"
