#!/usr/bin/env bash
# Here (the machine with MLIR): compiles what scripts/gpu/multi-gpu.sh runs on a
# machine with several GPUs into .gpu/multi (ignored):
#   checks/  the multi-rank test layers (test/e2e/multi-rank/Inputs: Mixtral-,
#            Qwen3- and DeepSeek-V3-shaped, f32 and bf16) and the main job's
#            Mixtral-8x7B, Qwen3-30B-A3B and DeepSeek-V3 layers (scaled as in
#            prepare-bench.sh), sharded for each plan of MOE_MULTI_PLANS
#            (default "ep=2 etp=2"; "ep=2,etp=2" etc. for 4 GPUs), as cuda
#            bundles; run there with --check against the single-rank reference;
#   bench/   moe-bench --ranks N --compile-only: the DESIGN §10 configurations
#            sharded for MOE_MULTI_BENCH_PLAN (default ep=2) and unsharded;
#   stream/  the sharded bench configurations again, streamed by moe-stream in
#            MOE_MULTI_STREAM_CHUNKS (default 4) chunks (their all-to-alls
#            overlap the expert compute), and the main job's layers streamed
#            the same way for --check.
# plus the runtime's build dependencies (.deps). The device call carries .gpu/multi and .deps.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${MOE_BUILD_DIR:-$root/build}/bin"
out="$root/.gpu/multi"
rm -rf "$out"
mkdir -p "$out/checks" "$out/sources"

# One plan ("ep=2,etp=1") as the module attribute moe-shard reads.
plan_attribute() {
  local etp=1 ep=1 edp=1 item
  for item in ${1//,/ }; do
    case "$item" in
      etp=*) etp="${item#etp=}" ;; ep=*) ep="${item#ep=}" ;; edp=*) edp="${item#edp=}" ;;
      *) echo "prepare-multi-gpu.sh: bad plan item '$item'" >&2; exit 1 ;;
    esac
  done
  echo "#moe.parallel<attn = {tp = 1, cp = 1, dp = $((etp * ep * edp)), pp = 1}, moe = {etp = $etp, ep = $ep, edp = $edp}>"
}

bash "$root/scripts/gpu/import-models.sh" "$out/sources" mixtral-8x7b qwen3-30b-a3b deepseek-v3

for plan in ${MOE_MULTI_PLANS:-ep=2 etp=2}; do
  attribute="$(plan_attribute "$plan")"
  tag="${plan//=/}"; tag="${tag//,/-}"
  for input in mixtral qwen3 deepseek_v3; do
    sed -e "s/PLAN/$attribute/" -e 's/PLACEMENT//' "$root/test/e2e/multi-rank/Inputs/$input.mlir" \
      > "$out/sources/test-$input.$tag.mlir"
  done
  for model in mixtral-8x7b qwen3-30b-a3b deepseek-v3; do
    sed -e "s/^module {/module attributes {moe.parallel = $attribute} {/" "$out/sources/$model.mlir" \
      > "$out/sources/$model.$tag.mlir"
  done
  for source in "$out"/sources/*."$tag".mlir; do
    name="$(basename "$source" .mlir)"
    "$bin/moe-translate" --moe-to-bundle --bundle-shard --bundle-target=cuda ${MOE_BUNDLE_FLAGS:-} \
      "$source" -o "$out/checks/$name.bundle"
  done
done
cp "$root/test/e2e/multi-rank/Inputs/skew-bias.py" "$out/"

PATH="$bin:$PATH" python3 "$root/tools/moe-bench/moe-bench.py" --target cuda --compile-only \
  --bundle-dir "$out/bench" --ranks "${MOE_MULTI_RANKS:-2}" --plan "${MOE_MULTI_BENCH_PLAN:-ep=2}"
chunks="${MOE_MULTI_STREAM_CHUNKS:-4}"
mkdir -p "$out/stream"
for source in "$out"/bench/*-prefill.mlir "$out"/bench/*-decode.mlir "$out"/sources/*-8x7b.ep2.mlir \
    "$out"/sources/qwen3-30b-a3b.ep2.mlir "$out"/sources/deepseek-v3.ep2.mlir; do
  [ -f "$source" ] || continue
  "$bin/moe-translate" --moe-to-bundle --bundle-shard --bundle-stream-chunks="$chunks" --bundle-target=cuda \
    "$source" -o "$out/stream/$(basename "$source" .mlir).s$chunks.bundle"
done
[ -d "$root/.deps" ] || bash "$root/scripts/gpu/build-runtime.sh" --prepare
du -sh "$out" "$root/.deps"
