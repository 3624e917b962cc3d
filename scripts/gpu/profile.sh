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
# without .bf16.cuda.bundle), MOE_PROFILE_TOP the launches shown (12),
# MOE_PROFILE_DIR the bundle directory (.gpu/bench). With MOE_PROFILE_DRAM=1
# each launch also shows the bytes it read from device memory (one more ncu
# pass per launch). MOE_PROFILE_WARM=1 keeps the caches as the run left them
# (ncu flushes them before each launch by default; warm, a launch's DRAM
# reads show what L2 kept from the launches before it), replaying the whole
# run per pass. Logs go to $OUT (or .gpu/logs).
set -uo pipefail
source "$(dirname "$0")/prologue.sh"
dir="${MOE_PROFILE_DIR:-$root/.gpu/bench}"
metrics=gpu__time_duration.sum
[ "${MOE_PROFILE_DRAM:-0}" = 1 ] && metrics="$metrics,dram__bytes_read.sum"
cache=()
[ "${MOE_PROFILE_WARM:-0}" = 1 ] && cache=(--cache-control none --replay-mode application)
configs="${MOE_PROFILE_CONFIGS:-$(ls "$dir" | sed -n 's/\.bf16\.cuda\.bundle$//p')}"
for config in $configs; do
  bundle="$dir/$config.bf16.cuda.bundle"
  ncu --clock-control none "${cache[@]}" --csv --print-units base --metrics "$metrics" \
    "$bin/moe-run" "$bundle" --device cuda --seed 1 >"$logs/ncu.$config.csv" 2>"$logs/ncu.$config.err"
  python3 - "$config" "$logs/ncu.$config.csv" <<'PY'
import csv, sys, os
config, path = sys.argv[1], sys.argv[2]
rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
if len(rows) < 2:
    print(f"{config}: no kernels profiled (see ncu.{config}.err)"); sys.exit(0)
head = rows[0]
g, b = head.index("Grid Size"), head.index("Block Size")
name, value = head.index("Metric Name"), head.index("Metric Value")
# One row per (launch, metric), launches in run order.
launches = {}
for r in rows[1:]:
    launch = launches.setdefault(r[head.index("ID")], {"grid": r[g], "block": r[b]})
    launch[r[name]] = float(r[value].replace(",", ""))
launches = list(launches.values())
us = lambda l: l["gpu__time_duration.sum"] / 1e3
layer = sum(us(l) for l in launches)
# Outlined kernels share names across gpu.modules: launches are named by
# their order in the run, with grid and block.
print(f"== {config}: {len(launches)} launches, {layer:.1f} us of kernels")
top = sorted(range(len(launches)), key=lambda i: -us(launches[i]))[:int(os.environ.get("MOE_PROFILE_TOP", "12"))]
for i in sorted(top):
    l = launches[i]
    dram = f" {l['dram__bytes_read.sum'] / 1e6:9.1f} MB read" if "dram__bytes_read.sum" in l else ""
    print(f"  launch {i:3d} grid {l['grid'].replace(' ', ''):>16s} block {l['block'].replace(' ', ''):>12s} {us(l):9.1f} us {100 * us(l) / layer:5.1f} %{dram}")
PY
done
