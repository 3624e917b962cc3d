#!/usr/bin/env bash
# Compiles the bundles of the Hugging Face check (DESIGN §9, docs/gpu.md) on a
# machine with the compiler (build/bin), for scripts/gpu/hf-check.sh to run on
# the GPU machine:
#
#   * one moe.layer per family, dtype and token count, imported from the real
#     config.json (examples/configs/) at full hidden and intermediate sizes:
#     mixtral (Mixtral-8x7B), qwen3_moe (Qwen3-30B-A3B), qwen2_moe
#     (Qwen1.5-MoE-A2.7B, shared expert with its sigmoid gate) and deepseek_v3
#     (DeepSeek-V3, scaled to 64 routed experts so that the HF module, its fp64
#     copy and ours fit one H100; n_group 8 / topk_group 4 kept); bf16 and f32;
#     T = 1, 7, 128. check_hf.py compares each with the transformers module;
#   * one layer per family for compute-sanitizer (bf16, T = 5, hidden 1024,
#     intermediate 512, the real expert counts: DeepSeek-V3's 256 too), run by
#     moe-run --check with seeded weights;
#   * examples/chain.mlir and examples/union.mlir (moe-run --check).
#
# Writes OUT/cases.json (what check_hf.py and hf-check.sh read: family, dtype,
# tokens, config, the HF config overrides, bundle, function, the inputs'
# names, dtypes and shapes in argument order, the routing) beside the .mlir and
# .bundle files. OUT is .gpu/hf-check/ (ignored) unless --out says otherwise.
#
#   bash scripts/gpu/prepare-hf-check.sh                 # the GPU check (cuda)
#   bash scripts/gpu/prepare-hf-check.sh --target cpu --small --out /tmp/hf
#       # cpu bundles at small sizes (hidden 256, intermediate 128), for a dry
#       # run of check_hf.py on the CPU
#
# Options: --target cuda|cpu, --out DIR, --tokens "1 7 128", --dtypes
# "bf16 f32", --families "mixtral qwen3_moe qwen2_moe deepseek_v3", --small.
# MOE_BIN_DIR overrides build/bin.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${MOE_BIN_DIR:-$root/build/bin}"
out="$root/.gpu/hf-check"
target=cuda
tokens="1 7 128"
dtypes="bf16 f32"
families="mixtral qwen3_moe qwen2_moe deepseek_v3"
small=0
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --dtypes) dtypes=$2; shift 2 ;;
    --families) families=$2; shift 2 ;;
    --small) small=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "prepare-hf-check: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$target" in cuda|cpu) ;; *) echo "--target must be cuda or cpu" >&2; exit 2 ;; esac
translate="$bin/moe-translate"
[ -x "$translate" ] || { echo "prepare-hf-check: no $translate (build first)" >&2; exit 1; }

config_of() {
  case "$1" in
    mixtral) echo examples/configs/Mixtral-8x7B-v0.1.json ;;
    qwen3_moe) echo examples/configs/Qwen3-30B-A3B.json ;;
    qwen2_moe) echo examples/configs/Qwen1.5-MoE-A2.7B.json ;;
    deepseek_v3) echo examples/configs/DeepSeek-V3.json ;;
    *) echo "unknown family $1" >&2; return 1 ;;
  esac
}
# Import options of the main check: DeepSeek-V3 at 64 of its 256 experts.
check_options_of() {
  local options=()
  [ "$1" = deepseek_v3 ] && options+=(--hf-num-experts=64)
  [ $small = 1 ] && options+=(--hf-hidden-size=256 --hf-intermediate-size=128)
  echo "${options[@]}"
}

rm -rf "$out"
mkdir -p "$out"
bundle_args=(--moe-to-bundle --bundle-target="$target")
list="$out/list.tsv"  # kind name family dtype tokens config mlir bundle options
: >"$list"

failed=0
# A case that does not import or compile stays in cases.json with its error
# (its log), so that the GPU check reports it as a failure.
compile() { # compile KIND NAME FAMILY DTYPE TOKENS CONFIG OPTIONS...
  local kind=$1 name=$2 family=$3 dtype=$4 t=$5 config=$6 bundle; shift 6
  bundle="$name.bundle"
  "$translate" --import-hf-config "$root/$config" --hf-tokens="$t" \
    --hf-dtype="$dtype" "$@" -o "$out/$name.mlir" 2>"$out/$name.log" ||
    { cat "$out/$name.log" >&2; return 1; }
  if ! "$translate" "${bundle_args[@]}" "$out/$name.mlir" \
      -o "$out/$name.bundle" 2>>"$out/$name.log"; then
    echo "prepare-hf-check: $name does not compile: $(grep -m1 error: "$out/$name.log")" >&2
    failed=$((failed + 1))
    rm -f "$out/$name.bundle"
    bundle=-
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$name" "$family" \
    "$dtype" "$t" "$config" "$name.mlir" "$bundle" "$*" >>"$list"
}

for family in $families; do
  config="$(config_of "$family")"
  for dtype in $dtypes; do
    for t in $tokens; do
      # shellcheck disable=SC2046
      compile check "$family-$dtype-t$t" "$family" "$dtype" "$t" "$config" \
        $(check_options_of "$family")
    done
  done
  # compute-sanitizer: smaller hidden/intermediate sizes keep moe-run's seeded
  # weights and its CPU reference quick; the real expert counts stay.
  if [ $small = 1 ]; then
    sanitize_options=(--hf-hidden-size=256 --hf-intermediate-size=128)
  else
    sanitize_options=(--hf-hidden-size=1024 --hf-intermediate-size=512)
  fi
  compile sanitize "sanitize-$family-bf16-t5" "$family" bf16 5 "$config" \
    "${sanitize_options[@]}"
done
for example in chain union; do
  "$translate" "${bundle_args[@]}" "$root/examples/$example.mlir" \
    -o "$out/$example.bundle"
  printf 'example\t%s\t-\tf32\t-\texamples/%s.mlir\t-\t%s.bundle\t\n' \
    "$example" "$example" "$example" >>"$list"
done

python3 - "$out" "$target" "$root" <<'PY'
import json, os, re, sys

out, target, root = sys.argv[1:4]
ARG = re.compile(r'%arg\d+: tensor<([^>]*)> \{moe\.input = "([^"]*)"\}')
FUNC = re.compile(r'func\.func @(\w+)\(')
RESULT = re.compile(r'\) -> tensor<([^>]*)> \{')
ROUTING = re.compile(r'routing <([^>]*)>')
ACTIVATION = re.compile(r'activation (\w+)')

def tensor(text):  # "7x4096xbf16" -> (dtype, shape)
    parts = text.split("x")
    return parts[-1], [int(p) for p in parts[:-1]]

def routing(text):
    fields = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        value = value.strip().split(" :")[0]
        fields[key.strip()] = {"true": True, "false": False}.get(
            value, float(value) if re.fullmatch(r"[-+0-9.e]+", value) else value)
    return fields

cases, sanitize, examples = [], [], []
for line in open(os.path.join(out, "list.tsv")):
    kind, name, family, dtype, tokens, config, mlir, bundle, options = \
        line.rstrip("\n").split("\t")
    if kind == "example":
        examples.append({"name": name, "source": config, "bundle": bundle})
        continue
    text = open(os.path.join(out, mlir)).read()
    inputs = []
    for spec, arg_name in ARG.findall(text):
        element, shape = tensor(spec)
        inputs.append({"name": arg_name, "dtype": element, "shape": shape})
    by_role = {}
    for entry in inputs:
        n = entry["name"]
        role = ("router" if n.endswith(".gate.weight") else
                "bias" if n.endswith("e_score_correction_bias") else
                "shared_sigmoid_gate" if n.endswith("shared_expert_gate.weight") else
                "shared_gate" if re.search(r"\.shared_experts?\.gate_proj", n) else
                "gate" if "{expert}" in n and re.search(r"\.(w1|gate_proj)\.", n) else
                None)
        if role:
            by_role[role] = entry["shape"]
    E, H = by_role["router"]
    F = by_role["gate"][1]
    S = by_role.get("shared_gate", [0])[0]
    overrides = {"hidden_size": H}
    if family == "mixtral":
        overrides.update(intermediate_size=F, num_local_experts=E)
    elif family in ("qwen3_moe", "qwen2_moe", "olmoe"):
        overrides.update(moe_intermediate_size=F, num_experts=E)
        if family == "qwen2_moe":
            overrides["shared_expert_intermediate_size"] = S
    elif family in ("deepseek_v3", "deepseek_v2"):
        overrides.update(moe_intermediate_size=F, n_routed_experts=E,
                         n_shared_experts=S // F if S else 0)
    out_dtype, out_shape = tensor(RESULT.search(text).group(1))
    case = {
        "name": name, "family": family, "dtype": dtype, "tokens": int(tokens),
        "config": config, "import_options": options.split(),
        "hf_overrides": overrides, "experts": E, "hidden": H,
        "intermediate": F, "shared_intermediate": S,
        "mlir": mlir, "bundle": bundle,
        "function": FUNC.search(text).group(1), "inputs": inputs,
        "output": {"dtype": out_dtype, "shape": out_shape},
        "routing": routing(ROUTING.search(text).group(1)),
        "activation": ACTIVATION.search(text).group(1),
    }
    if bundle == "-":
        case["bundle"] = None
        log = open(os.path.join(out, name + ".log")).read()
        case["compile_error"] = next(
            (l for l in log.splitlines() if "error:" in l), log.strip()[:400])
    (cases if kind == "check" else sanitize).append(case)

json.dump({"target": target, "cases": cases, "sanitize": sanitize,
           "examples": examples},
          open(os.path.join(out, "cases.json"), "w"), indent=1)
print(f"prepare-hf-check: {len(cases)} check cases, {len(sanitize)} sanitizer "
      f"layers, {len(examples)} examples ({target}) in {out}")
PY
rm -f "$list"
[ $failed = 0 ] || echo "prepare-hf-check: $failed bundles did not compile" \
  "(recorded in cases.json: the GPU check reports them as failures)" >&2
size_kib=$(du -sk "$out" | cut -f1)
echo "prepare-hf-check: $((size_kib / 1024)) MiB"
if [ "$size_kib" -gt $((40 * 1024)) ]; then
  echo "prepare-hf-check: over 40 MiB: the device call carries at most 64 MiB" >&2
  exit 1
fi
