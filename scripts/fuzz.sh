#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz (clang-22, ASan + UBSan, the project
# libraries they link instrumented too) into $MOE_FUZZ_BUILD_DIR (default:
# build-fuzz/), writes their seed corpora from the tests and examples, and runs
# each fuzzer for SECONDS (default 60). Fails on any crash, leak, sanitizer
# report or timeout; the reproducer is left in $build/fuzz-artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS]
#
# MOE_TRANSLATE: moe-translate used to write bundle seeds (default: build/bin's,
# else it is built here). MOE_FUZZ_TARGETS: the targets to run (default: all).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MOE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${1:-60}"
targets=(${MOE_FUZZ_TARGETS:-ir hf-import safetensors bundle})

"$root/scripts/install-deps.sh"
# libFuzzer and the sanitizer runtimes.
if ! dpkg-query -W -f='${Status}' libclang-rt-22-dev 2>/dev/null | grep -q "install ok installed"; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing: libclang-rt-22-dev"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    libclang-rt-22-dev >/dev/null
fi

start=$(date +%s)
if [ ! -f "$build/build.ninja" ]; then
  # -O1 and assertions on (no NDEBUG): the invariants of our code are checked.
  sanitize="-fsanitize=address,undefined -fno-sanitize=vptr -fsanitize=fuzzer-no-link"
  cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_C_FLAGS="$sanitize" -DCMAKE_CXX_FLAGS="$sanitize" \
    -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only" \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DMOE_ENABLE_FUZZERS=ON >/dev/null
fi
cmake --build "$build" --target moe-fuzzers

translate="${MOE_TRANSLATE:-$root/build/bin/moe-translate}"
if [ ! -x "$translate" ]; then
  cmake --build "$build" --target moe-translate
  translate="$build/bin/moe-translate"
fi
echo "Build took $(( $(date +%s) - start )) s"

corpus="$build/fuzz-corpus"      # seeds, rewritten on every run
work="$build/fuzz-work"          # what the fuzzers add, kept between runs
artifacts="$build/fuzz-artifacts"
python3 "$root/test/fuzz/make-corpus.py" "$root" "$corpus" --moe-translate "$translate"

# UBSan reports are fatal; libFuzzer reports leaks.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"

failed=()
summary=()
for target in "${targets[@]}"; do
  mkdir -p "$work/$target" "$artifacts/$target"
  log="$build/fuzz-$target.log"
  echo "== moe-fuzz-$target: ${seconds} s =="
  status=0
  "$build/bin/moe-fuzz-$target" "$work/$target" "$corpus/$target" \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$target/" \
    >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  elapsed=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 | awk '{print $5}')
  if [ "$status" -ne 0 ]; then
    tail -60 "$log"
    failed+=("$target")
    summary+=("moe-fuzz-$target: FAILED (exit $status) after ${runs:-?} runs; log $log, reproducer in $artifacts/$target/")
  else
    summary+=("moe-fuzz-$target: ${runs:-?} runs in ${elapsed:-$seconds} s, no crash")
  fi
done

echo "== fuzzing summary =="
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "error: crashes in: ${failed[*]}" >&2
  exit 1
fi
