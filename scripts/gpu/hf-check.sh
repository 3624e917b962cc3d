#!/usr/bin/env bash
# On the GPU machine: checks the compiled MoE layers against Hugging Face
# transformers and runs compute-sanitizer on them (DESIGN §9; docs/gpu.md).
#   1. environment: GPU, driver, toolkit, torch, transformers and its MoE
#      block classes;
#   2. builds the runtime and moe-run (scripts/gpu/build-runtime.sh, unit tests
#      off) into build-gpu/;
#   3. check_hf.py: every case of .gpu/hf-check/cases.json against the
#      transformers block with the same weights, bf16 and f32;
#   4. compute-sanitizer --tool memcheck (leak check on) on moe-run --device
#      cuda --check of one layer per family and of the chain/union examples;
#   5. moe-run --device cuda --check of examples/chain.mlir and union.mlir
#      against the bundles' reference programs.
# Logs (7 files) go to $OUT (default build-gpu/hf-logs); a summary is printed
# last. Exit 0 when every step passed.
#
# Here: bash scripts/gpu/build-runtime.sh --prepare; bash scripts/gpu/prepare-hf-check.sh
# Then (device tool): run(command="bash scripts/gpu/hf-check.sh",
#                         carry=[".deps", ".gpu/hf-check"])
# MOE_HF_BUDGET_S (default 150): check_hf.py starts no case predicted to end
# later. MOE_HF_CASES: another cases folder. MOE_HF_SKIP_BUILD=1: use the
# runtime already built in build-gpu/. Extra arguments go to check_hf.py.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${MOE_GPU_BUILD_DIR:-$root/build-gpu}"
cases="${MOE_HF_CASES:-$root/.gpu/hf-check}"
out="${OUT:-$build/hf-logs}"
budget="${MOE_HF_BUDGET_S:-150}"
python="${PYTHON:-python3}"  # the one with torch and transformers
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
summary=()
failed=0
record() { # record NAME RC SECONDS
  summary+=("$(printf '%-34s rc=%-3s %4ss' "$1" "$2" "$3")")
  [ "$2" = 0 ] || failed=1
}
step() { # step NAME LOG COMMAND...: runs, appends to $out/LOG
  local name=$1 logfile=$2 start=$SECONDS rc; shift 2
  echo "== $name: $*" >>"$out/$logfile"
  "$@" >>"$out/$logfile" 2>&1
  rc=$?
  echo "== $name: rc=$rc, $((SECONDS - start)) s" >>"$out/$logfile"
  record "$name" $rc $((SECONDS - start))
  return $rc
}

[ -f "$cases/cases.json" ] || {
  echo "hf-check: no $cases/cases.json: run scripts/gpu/prepare-hf-check.sh" \
    "where the compiler is, and carry .gpu/hf-check" >&2; exit 1; }

# shellcheck disable=SC2016  # expanded by the inner shell
step environment environment.log bash -c '
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  nvcc --version | tail -2; cmake --version | head -1; nproc
  command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer
  "$0" - <<PY
import importlib, inspect, sys
import torch
print("python", sys.version.split()[0], "torch", torch.__version__,
      "cuda", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")
try:
    import transformers
except ImportError as e:
    sys.exit(f"no transformers: {e}")
print("transformers", transformers.__version__)
for module, name in [("mixtral.modeling_mixtral", "MixtralSparseMoeBlock"),
                     ("qwen3_moe.modeling_qwen3_moe", "Qwen3MoeSparseMoeBlock"),
                     ("qwen2_moe.modeling_qwen2_moe", "Qwen2MoeSparseMoeBlock"),
                     ("deepseek_v3.modeling_deepseek_v3", "DeepseekV3MoE")]:
    try:
        cls = getattr(importlib.import_module("transformers.models." + module), name)
        print(name, inspect.signature(cls.__init__), "forward", inspect.signature(cls.forward))
    except Exception as e:
        print(name, "unavailable:", type(e).__name__, e)
try:
    from transformers.integrations import moe
    print("experts implementations:", sorted(getattr(moe, "ALL_EXPERTS_FUNCTIONS", {}).keys()))
except Exception as e:
    print("transformers.integrations.moe:", type(e).__name__, e)
PY' "$python"

if [ "${MOE_HF_SKIP_BUILD:-0}" = 1 ]; then
  echo "== build: skipped (MOE_HF_SKIP_BUILD=1), using $build" >>"$out/build.log"
elif ! step build build.log bash "$root/scripts/gpu/build-runtime.sh" \
     -DMOE_ENABLE_UNIT_TESTS=OFF; then
  tail -40 "$out/build.log"
  printf '%s\n' "${summary[@]}"
  exit 1
fi
run="$build/bin/moe-run"
library="$(find "$build" -name libmoert.so -not -path '*/gtest*' | head -1)"

step check_hf check_hf.log "$python" "$root/scripts/gpu/check_hf.py" \
  --cases "$cases" --moert "$library" --budget-s "$budget" \
  --results "$out/hf-results.json" "$@"

sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
bundles="$("$python" -c '
import json, sys
m = json.load(open(sys.argv[1]))
for c in m["sanitize"]:
    print(c["name"], c["bundle"] or "-")
for e in m["examples"]:
    print(e["name"], e["bundle"])' "$cases/cases.json")"
while read -r name bundle; do
  if [ "$bundle" = - ]; then
    echo "== memcheck $name: does not compile (see cases.json)" >>"$out/sanitizer.log"
    record "memcheck $name (no bundle)" 1 0
    continue
  fi
  step "memcheck $name" sanitizer.log "$sanitizer" --tool memcheck \
    --leak-check full --error-exitcode 3 --print-limit 20 \
    "$run" "$cases/$bundle" --device cuda --seed 1 --check
done <<<"$bundles"

for example in chain union; do
  step "moe-run $example --check" examples.log "$run" "$cases/$example.bundle" \
    --device cuda --seed 1 --check --repeat 5
done

{
  echo "== check_hf (GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
  sed -n '/^== Hugging Face check/,$p' "$out/check_hf.log"
  grep -E '^check_hf: SKIP|Error|Traceback' "$out/check_hf.log" | head -5
  echo "== compute-sanitizer memcheck"
  grep -E '^== memcheck.*rc=|ERROR SUMMARY|LEAK SUMMARY|^check +(PASS|FAIL)|error:' "$out/sanitizer.log"
  echo "== examples (moe-run --device cuda --check)"
  grep -E '^== moe-run.*rc=|^time|^check|error' "$out/examples.log"
  echo "== steps (logs in $out)"
  printf '%s\n' "${summary[@]}"
} | tee "$out/summary.txt"
exit $failed
