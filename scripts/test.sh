#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the lit suite
# and the GoogleTest unit tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MOE_BUILD_DIR:-$root/build}"

"$root/scripts/install-deps.sh"
start=$(date +%s)
"$root/scripts/build.sh"
echo "Build took $(( $(date +%s) - start )) s"

echo "== lit suite =="
/usr/lib/llvm-22/bin/lit -s "$build/test"

echo "== unit tests (ctest) =="
ctest --test-dir "$build" --output-on-failure -E '^lit-suite$'
