#!/usr/bin/env bash
# Installs MoE-MLIR into a temporary prefix and builds and runs examples/embed
# from the INSTALL tree (a copy of the example outside the source tree, found
# through find_package(MoEMLIR) only), then the PyTorch bridge where torch is
# installed (skipped otherwise).
#
#   scripts/test-install.sh                  # own build dir: build-install/
#   MOE_BUILD_DIR=build scripts/test-install.sh   # reuse a configured build
#   MOE_KEEP_PREFIX=1 ...                    # keep the prefix for a look
#
# A fresh build dir builds the whole compiler first (long on 2 cores); reusing
# an existing build (CI: the one the suite already built) keeps this to the
# install and the example, about a minute.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MOE_BUILD_DIR:-$root/build-install}"
mlir_dir=/usr/lib/llvm-22/lib/cmake/mlir
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start )) s)"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/moe-test-install.XXXXXX")"
prefix="$work/prefix"
if [ "${MOE_KEEP_PREFIX:-0}" = 1 ]; then
  echo "keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi

step "configure and build in $build"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DMLIR_DIR="$mlir_dir" \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DMOE_ENABLE_UNIT_TESTS=OFF
fi
cmake --build "$build"

step "install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in lib/cmake/MoEMLIR/MoEMLIRConfig.cmake \
         lib/cmake/MoEMLIR/MoEMLIRConfigVersion.cmake \
         lib/cmake/MoEMLIR/MoEMLIRRuntimeTargets.cmake \
         lib/cmake/MoEMLIR/MoEMLIRCompilerTargets.cmake \
         lib/libmoert.so lib/libmoert.a lib/libMoECompiler.a lib/libMoECAPI.a \
         include/moert/moert.h include/moert/bundle_format.h lib/python/moert/__init__.py \
         include/moe/Compiler/Compiler.h include/moe/CAPI/Dialects.h \
         include/moe/IR/MoEOps.h include/moe/IR/MoEOps.h.inc \
         include/moe/Transforms/Passes.h.inc include/moe/Conversion/Passes.h.inc \
         bin/moe-opt bin/moe-translate bin/moe-run bin/moe-bench; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
echo "$(wc -l <"$work/install.log") files installed"
"$prefix/bin/moe-opt" --version >/dev/null
"$prefix/bin/moe-run" --help >/dev/null 2>&1 || true

step "plain C headers compile alone"
for h in moert/moert.h moert/bundle_format.h; do
  echo "#include <$h>" | clang-22 -x c -std=c99 -Wall -Werror -fsyntax-only \
    -I "$prefix/include" -
done
echo '#include <moe/CAPI/Dialects.h>' | clang-22 -x c -std=c99 -fsyntax-only \
  -I "$prefix/include" -I /usr/lib/llvm-22/include -

step "build examples/embed against the installed package"
cp -r "$root/examples/embed" "$work/embed-src"
cmake -S "$work/embed-src" -B "$work/embed-build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DCMAKE_PREFIX_PATH="$prefix" -DMLIR_DIR="$mlir_dir" >"$work/embed-configure.log"
cmake --build "$work/embed-build"
# Nothing of the source or build tree may leak into the example's build.
if grep -l -e "$root/" -e "$build" "$work/embed-build/build.ninja" \
     "$work/embed-build/CMakeCache.txt"; then
  echo "the example build refers to the source or build tree" >&2
  exit 1
fi
if ldd "$work/embed-build/embed-runtime-only" | grep -i -e mlir -e llvm; then
  echo "the runtime-only host links MLIR or LLVM" >&2
  exit 1
fi

step "a runtime-only consumer finds the package without MLIR"
mkdir -p "$work/runtime-only-src"
cp "$root/examples/embed/runtime_only.c" "$work/runtime-only-src/"
cat >"$work/runtime-only-src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(moe-runtime-only LANGUAGES C CXX)
find_package(MoEMLIR CONFIG REQUIRED COMPONENTS Runtime)
if(TARGET MoEMLIR::Compiler OR MLIR_FOUND)
  message(FATAL_ERROR "asking for the Runtime loaded the compiler")
endif()
add_executable(runtime-only runtime_only.c)
target_link_libraries(runtime-only PRIVATE MoEMLIR::Runtime)
CMAKE
cmake -S "$work/runtime-only-src" -B "$work/runtime-only-build" -G Ninja \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_DISABLE_FIND_PACKAGE_MLIR=ON \
  >"$work/runtime-only-configure.log"
cmake --build "$work/runtime-only-build" >/dev/null

step "run the C++ host (compile in memory, run through moert)"
"$work/embed-build/embed-host"

step "run the runtime-only host on a bundle from the installed moe-translate"
"$prefix/bin/moe-translate" --moe-to-bundle "$root/examples/mixtral.mlir" \
  -o "$work/mixtral.bundle"
"$work/embed-build/embed-runtime-only" "$work/mixtral.bundle"
"$work/runtime-only-build/runtime-only" "$work/mixtral.bundle" >/dev/null

step "PyTorch bridge"
set +e
/usr/bin/python3 "$work/embed-src/torch_bridge.py" --prefix "$prefix"
rc=$?
set -e
if [ $rc = 77 ]; then
  echo "(torch bridge skipped: no torch)"
elif [ $rc != 0 ]; then
  exit $rc
fi

step "test-install: OK"
