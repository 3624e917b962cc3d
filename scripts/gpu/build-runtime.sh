#!/usr/bin/env bash
# Builds the runtime, moe-run and the runtime's unit tests (the CUDA ones
# included) without MLIR, on a machine that has the CUDA toolkit, CMake and a
# C++ compiler but maybe neither nlohmann-json nor GoogleTest: the GPU machine
# of the device tool; check-runtime.sh beside this builds with it and tests.
#
#   bash scripts/gpu/build-runtime.sh --prepare   # here: copy what that machine
#                                                 # lacks into .deps/ (ignored)
#   bash scripts/gpu/build-runtime.sh             # there: build into build-gpu/
#   bash scripts/gpu/build-runtime.sh --if-missing LOG   # there: only moe-run,
#                                                 # when build-gpu/ has none
#
# --prepare copies /usr/include/nlohmann (header-only) and /usr/src/googletest
# (sources, from Debian's libgtest-dev) into .deps/, which the device call
# carries. The build uses the installed packages where CMake finds them, else
# those copies (MOE_NLOHMANN_JSON_INCLUDE_DIR; GoogleTest built into
# build-gpu/gtest). Extra arguments go to CMake. MOE_GPU_BUILD_DIR overrides
# the build directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
deps="$root/.deps"

if [ "${1:-}" = "--prepare" ]; then
  rm -rf "$deps"
  mkdir -p "$deps/include"
  cp -r /usr/include/nlohmann "$deps/include/"
  cp -r /usr/src/googletest "$deps/googletest"
  du -sh "$deps"
  exit 0
fi

build="${MOE_GPU_BUILD_DIR:-$root/build-gpu}"

# --if-missing LOG: the scripts that only run bundles (through prologue.sh)
# build moe-run (unit tests off, output in LOG) unless a build is there.
if [ "${1:-}" = "--if-missing" ]; then
  [ -x "$build/bin/moe-run" ] && exit 0
  bash "$0" -DMOE_ENABLE_UNIT_TESTS=OFF >"$2" 2>&1 || { tail -30 "$2"; exit 1; }
  exit 0
fi
jobs="$(nproc)"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
mkdir -p "$build"

# GoogleTest from the carried sources when none is installed.
gtest=()
if [ -d "$deps/googletest" ] && ! ls /usr/lib/*/cmake/GTest /usr/lib/cmake/GTest \
     /usr/local/lib/cmake/GTest >/dev/null 2>&1; then
  if [ ! -f "$build/gtest-install/lib/cmake/GTest/GTestConfig.cmake" ]; then
    cmake -S "$deps/googletest" -B "$build/gtest" "${generator[@]}" \
      -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF -DINSTALL_GTEST=ON \
      -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
      -DCMAKE_INSTALL_PREFIX="$build/gtest-install" >/dev/null
    cmake --build "$build/gtest" -j "$jobs" >/dev/null
    cmake --install "$build/gtest" >/dev/null
  fi
  gtest=(-DGTest_DIR="$build/gtest-install/lib/cmake/GTest")
fi

cmake -S "$root" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DMOE_ENABLE_COMPILER=OFF \
  -DMOE_NLOHMANN_JSON_INCLUDE_DIR="$deps/include" "${gtest[@]}" "$@"
cmake --build "$build" -j "$jobs"
