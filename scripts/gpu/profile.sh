#!/usr/bin/env bash
# There (the GPU machine): where the time of each full-size bench layer goes,
# kernel by kernel. Runs each bundle of .gpu/bench (scripts/gpu/prepare-bench.sh
# here) once under Nsight Compute with only the kernel duration metric
# (clocks left alone, METHOD.md) and prints, per configuration, its longest
# launches in run order: grid, block, microseconds, share of the layer. The
# n-th launch is the n-th gpu.launch of `moe-opt --pass-pipeline=
# 'builtin.module(moe-cuda-pipeline{lower-to-llvm=false})'` on the .mlir beside
# the bundle (outlined kernels share names across their gpu.modules). Expects build-gpu/ (bench.sh or
# build-runtime.sh); MOE_PROFILE_CONFIGS limits the configurations (names
# without .bf16.cuda.bundle), MOE_PROFILE_TOP the launches shown (12). Logs go to $OUT (or .gpu/logs).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
logs="${OUT:-$root/.gpu/logs}"
mkdir -p "$logs"
bin="$root/build-gpu/bin"
bash "$root/scripts/gpu/build-runtime.sh" --if-missing "$logs/build.log" || exit 1
configs="${MOE_PROFILE_CONFIGS:-$(ls "$root/.gpu/bench" | sed -n 's/\.bf16\.cuda\.bundle$//p')}"
for config in $configs; do
  bundle="$root/.gpu/bench/$config.bf16.cuda.bundle"
  ncu --clock-control none --csv --print-units base --metrics gpu__time_duration.sum \
    "$bin/moe-run" "$bundle" --device cuda --seed 1 >"$logs/ncu.$config.csv" 2>"$logs/ncu.$config.err"
  python3 - "$config" "$logs/ncu.$config.csv" <<'PY'
import csv, sys, os
config, path = sys.argv[1], sys.argv[2]
rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
if len(rows) < 2:
    print(f"{config}: no kernels profiled (see ncu.{config}.err)"); sys.exit(0)
head = rows[0]
g, b, v = head.index("Grid Size"), head.index("Block Size"), head.index("Metric Value")
us = lambda r: float(r[v].replace(",", "")) / 1e3
layer = sum(us(r) for r in rows[1:])
# Outlined kernels share names across gpu.modules: launches are named by
# their order in the run, with grid and block.
print(f"== {config}: {len(rows) - 1} launches, {layer:.1f} us of kernels")
top = sorted(range(1, len(rows)), key=lambda i: -us(rows[i]))[:int(os.environ.get("MOE_PROFILE_TOP", "12"))]
for i in sorted(top):
    r = rows[i]
    print(f"  launch {i - 1:3d} grid {r[g].replace(' ', ''):>16s} block {r[b].replace(' ', ''):>12s} {us(r):9.1f} us {100 * us(r) / layer:5.1f} %")
PY
done
