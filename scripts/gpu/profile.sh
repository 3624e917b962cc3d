#!/usr/bin/env bash
# There (the GPU machine): where the time of each full-size bench layer goes,
# kernel by kernel. Runs each bundle of .gpu/bench (scripts/gpu/prepare-bench.sh
# here) once under Nsight Compute with only the kernel duration metric
# (clocks left alone, METHOD.md) and prints, per configuration, the kernels by
# total time: launches, grid, total and mean microseconds, share of the layer.
# Kernel names are the outlined gpu.func names of the bundle's host function;
# `moe-opt --moe-cuda-pipeline="lower-to-llvm=false"` on the .mlir beside the
# bundle shows which op each one came from. Expects build-gpu/ (bench.sh or
# build-runtime.sh); MOE_PROFILE_CONFIGS limits the configurations (names
# without .bf16.cuda.bundle), MOE_PROFILE_TOP the kernels shown (12). Logs go to $OUT (or .gpu/logs).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
logs="${OUT:-$root/.gpu/logs}"
mkdir -p "$logs"
bin="$root/build-gpu/bin"
[ -x "$bin/moe-run" ] || bash "$root/scripts/gpu/build-runtime.sh" -DMOE_ENABLE_UNIT_TESTS=OFF >"$logs/build.log" 2>&1 ||
  { tail -30 "$logs/build.log"; exit 1; }
configs="${MOE_PROFILE_CONFIGS:-$(ls "$root/.gpu/bench" | sed -n 's/\.bf16\.cuda\.bundle$//p')}"
for config in $configs; do
  bundle="$root/.gpu/bench/$config.bf16.cuda.bundle"
  ncu --clock-control none --csv --print-units base --metrics gpu__time_duration.sum \
    "$bin/moe-run" "$bundle" --device cuda --seed 1 >"$logs/ncu.$config.csv" 2>"$logs/ncu.$config.err"
  python3 - "$config" "$logs/ncu.$config.csv" <<'PY'
import csv, sys, collections
config, path = sys.argv[1], sys.argv[2]
rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
if not rows:
    print(f"{config}: no kernels profiled (see ncu.{config}.err)"); sys.exit(0)
head = rows[0]; k, g, v = head.index("Kernel Name"), head.index("Grid Size"), head.index("Metric Value")
total = collections.defaultdict(float); count = collections.Counter(); grid = {}
for r in rows[1:]:
    name = r[k]; total[name] += float(r[v].replace(",", "")) / 1e3; count[name] += 1; grid[name] = r[g]
layer = sum(total.values())
print(f"== {config}: {sum(count.values())} launches, {layer:.1f} us of kernels")
for name, us in sorted(total.items(), key=lambda x: -x[1])[:int(__import__("os").environ.get("MOE_PROFILE_TOP", "12"))]:
    print(f"  {name[:40]:40s} x{count[name]:<3d} grid {grid[name]:>16s} {us:10.1f} us {us / count[name]:9.1f} us/launch {100 * us / layer:5.1f} %")
PY
done
