#!/usr/bin/env bash
# ASan + UBSan build of MoE-MLIR and the whole test suite under it (issue 11, item 2).
#
# Installs what it needs (scripts/install-deps.sh, plus libclang-rt-22-dev for the
# sanitizer runtimes and python3-psutil for lit's per-test timeout), configures
# $MOE_SANITIZE_BUILD_DIR (default: build-asan/) with clang-22 and
#     -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# on every file of ours (compiler, runtime, tools, unit tests), builds everything, then
# runs the full lit suite and every ctest test with LeakSanitizer on. Any ASan report,
# UBSan report or leak fails the test that caused it, and so the script; a test that
# runs past $MOE_SANITIZE_TEST_TIMEOUT seconds (default 900) fails as a hang.
# Measured on 2 shared cores: rebuilding all of our C++ 286 s, lit 40 s, ctest 7 s.
#
#   bash scripts/sanitize.sh            # build-asan/, lit + ctest
#   MOE_SANITIZE_BUILD_DIR=/tmp/b bash scripts/sanitize.sh
#   bash scripts/sanitize.sh -DFOO=bar  # extra arguments go to CMake
#
# What is NOT instrumented (the exceptions to "the full suite under sanitizers"):
#   * LLVM/MLIR come from Debian's shared libraries (libMLIR.so, libLLVM.so) without
#     instrumentation. ASan still intercepts their malloc/new/free, so leaks, double
#     frees and bad frees of memory they own are seen; their own out-of-bounds
#     accesses and undefined behaviour are not.
#   * The CPU kernels of a bundle are a shared object that moe-translate compiles with
#     our MLIR pipeline and ld.lld (not clang), so they carry no instrumentation.
#     moe-run (instrumented) loads them; their heap allocations go through ASan's
#     malloc and are checked for leaks and bad frees by the runtime that adopts them,
#     but loads and stores inside a kernel are not checked.
#   * test/e2e/cpu-layers.test runs its kernels with Debian's mlir-runner, an
#     uninstrumented binary: that process runs without sanitizers (only moe-opt,
#     which compiles the kernels, is instrumented). No LD_PRELOAD of the ASan
#     runtime is needed for it because it loads none of our instrumented code.
#   * Python helpers of the lit suite (and PyTorch when present) are not instrumented.
#   * Inside LLVM's BumpPtrAllocator slabs (MLIR's attribute/type uniquers) nothing is
#     poisoned (test/fuzz/NoLLVMAllocatorPoisoning.h, see below), so an overrun from
#     one slab allocation into the next is not seen; all other heap memory is checked.
#   * The executor's call into a kernel (runtime/src/core/Executor.cpp,
#     callWithPointers) is exempt from -fsanitize=function: every kernel is called as
#     void(void *, ...) by design, whatever pointer types its source declared.
# Leak suppressions: none. LeakSanitizer reports nothing from the uninstrumented
# libMLIR/libLLVM on this suite, so there is no suppressions file; if one is ever
# needed, scope it to those libraries only (leak:libMLIR.so, leak:libLLVM.so).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MOE_SANITIZE_BUILD_DIR:-$root/build-asan}"
llvm=/usr/lib/llvm-22

"$root/scripts/install-deps.sh"
# The sanitizer runtimes (libclang_rt.asan/ubsan) ship in libclang-rt-22-dev; lit's
# per-test timeout (--timeout, so that a hang fails instead of blocking) needs psutil.
missing=()
for package in libclang-rt-22-dev python3-psutil; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "Installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# MPI off: Open MPI keeps allocations past MPI_Finalize in plugins it has
# already unloaded, which LeakSanitizer reports without a module to suppress.
# The multi-rank tests run in scripts/test.sh's build; here the comm layer's
# single-process paths are sanitized.
sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
# Our code inlines LLVM's BumpPtrAllocator from the headers, which under ASan poisons
# slabs that the uninstrumented libMLIR.so then allocates from: false use-after-poison
# reports inside libMLIR. test/fuzz/NoLLVMAllocatorPoisoning.h (shared with the fuzz
# build) turns that poisoning off; every heap allocation is still checked.
no_poisoning="-include $root/test/fuzz/NoLLVMAllocatorPoisoning.h"
start=$(date +%s)
# Configured every time (cheap; ninja rebuilds only what the flags change).
# LLVM_USE_SANITIZER tells LLVM's HandleLLVMOptions (included by the compiler half)
# not to link shared libraries with -z defs, which the ASan runtime's symbols (left to
# the executable) would break; the flags themselves are ours, set explicitly so that a
# runtime-only configure (-DMOE_ENABLE_COMPILER=OFF) gets them too.
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DCMAKE_C_FLAGS="$sanitize -gline-tables-only" \
  -DCMAKE_CXX_FLAGS="$sanitize -gline-tables-only $no_poisoning" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DLLVM_USE_SANITIZER="Address;Undefined" \
  -DMLIR_DIR=$llvm/lib/cmake/mlir \
  -DLLVM_EXTERNAL_LIT=$llvm/bin/lit -DMOE_ENABLE_MPI=OFF "$@" >/dev/null
cmake --build "$build"
echo "Sanitizer build took $(( $(date +%s) - start )) s"

# Runtime options. lit passes ASAN_OPTIONS, UBSAN_OPTIONS and ASAN_SYMBOLIZER_PATH
# through to its tests (but not LSAN_OPTIONS), so everything LeakSanitizer needs rides
# in ASAN_OPTIONS.
#   detect_leaks=1                   LeakSanitizer at exit of every instrumented process
#   check_initialization_order=1     static-initialisation-order bugs
#   detect_stack_use_after_return=0  off: doubles stack use of deep MLIR pattern drivers
#   halt_on_error=1, abort_on_error=1  the first report (a leak at exit included) ends
#                                    the process with SIGABRT, not exit status 1: tests
#                                    that expect a tool to fail (`not moe-run ...`) then
#                                    still fail on a sanitizer report, since `not`
#                                    counts a signal as a crash
#   verify_asan_link_order=0         tolerate an uninstrumented parent (python, lit)
#                                    exec'ing our binaries with inherited LD_PRELOADs
export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:detect_stack_use_after_return=0:halt_on_error=1:abort_on_error=1:verify_asan_link_order=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:report_error_type=1"
export ASAN_SYMBOLIZER_PATH=$llvm/bin/llvm-symbolizer

status=0
echo "== lit suite (ASan+UBSan) =="
lit_start=$(date +%s)
# A test that runs longer than this (sanitized tools run 2-5x slower) counts as a hang.
"$llvm/bin/lit" -s --timeout="${MOE_SANITIZE_TEST_TIMEOUT:-900}" "$build/test" || status=1
echo "lit took $(( $(date +%s) - lit_start )) s"

echo "== unit tests, ctest (ASan+UBSan) =="
ctest_start=$(date +%s)
ctest --test-dir "$build" --output-on-failure --timeout "${MOE_SANITIZE_TEST_TIMEOUT:-900}" \
  -E '^lit-suite$' || status=1
echo "ctest took $(( $(date +%s) - ctest_start )) s"

echo "sanitize.sh: $( [ $status -eq 0 ] && echo PASS || echo FAIL ) in $(( $(date +%s) - start )) s"
exit $status
