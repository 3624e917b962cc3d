#!/usr/bin/env bash
# Installs what building and testing MoE-MLIR needs on Debian 12, if missing:
# LLVM/MLIR 22 (compiler side), clang-22, lld-22 (links CPU kernels), CMake, Ninja,
# GoogleTest, nlohmann-json, OpenMPI (multi-rank runs: mpirun -np N moe-run ...). With MOE_WITH_TORCH=1 also Debian's PyTorch (CPU), which
# cross-checks the C++ reference and is moe-bench's peer.
set -euo pipefail

packages=(libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools clang-22 lld-22
          cmake ninja-build libgtest-dev nlohmann-json3-dev
          libopenmpi-dev openmpi-bin)
if [ "${MOE_WITH_TORCH:-0}" = 1 ]; then
  packages+=(python3-torch libopenblas0-pthread)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "Installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
