#!/usr/bin/env python3
"""Compiles moe.composition modules with moe-cpu-pipeline, runs them with
mlir-runner and compares every output element with an independent
plain-Python reference of DESIGN §8's composition of experts: per request r,
m = argmax selector[r] (ties to the lower index; a NaN never beats the running
best, as the router's top-k) and result[r] = models[m](inputs[r]).

Each module has three expert models of different families (a Mixtral-style,
an OLMoE-style and a DeepSeek-V3-style layer, from cpu_layers.py's cases) whose
random weights are dense constants inside the models or, in the "weights"
cases, arguments of the models that the composition passes from its own
function arguments (`weights(...)`; @main passes the random weights in as
inputs), and R = 5 requests whose
selector rows include a tie between two models, a three-way tie and a NaN; the
models' outputs are checked to differ, so that a wrong choice fails.
Usage: cpu_composition.py --opt MOE_OPT --runner MLIR_RUNNER --lib-dir DIR [--only NAME] [--seeds N]
"""

import argparse
import math
import os
import random
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_layers as layers  # noqa: E402  (the layer reference and case builder)

# (model symbol, cpu_layers case it is built from)
MODELS = [("chat", "mixtral"), ("coder", "olmoe-in-out-gelu-plain"), ("math", "deepseek-v3")]
REQUESTS = 5

# weight_arguments: the models whose weights are function arguments (the
# others hold them as constants).
CASES = {
    "composition": dict(selector_dtype="f32", weight_arguments=()),
    "composition-bf16-selector": dict(selector_dtype="bf16", weight_arguments=()),
    "composition-weights": dict(selector_dtype="f32", weight_arguments=(0, 1, 2)),
    "composition-mixed-weights": dict(selector_dtype="bf16", weight_arguments=(0, 2)),
}

NAN_BITS = {"f32": "0x7FC00000", "bf16": "0x7FC0"}

# ----------------------------------------------------------------------------
# Reference (DESIGN §8, composition of experts)
# ----------------------------------------------------------------------------


def choose(row):
    """The model of one selector row: the first maximum; NaN is never greater."""
    best = 0
    for m in range(1, len(row)):
        if row[m] > row[best]:
            best = m
    return best


def run_model(model, request):
    case, weights = model
    return layers.reference(case, dict(weights, x=request))


def reference(case, t):
    out = []
    for row, request in zip(t["selector"], t["inputs"]):
        out.extend(run_model(t["models"][choose(row)], request))
    return out


# ----------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------


def selector_rows(rng, rounding, models):
    """R rows over the models: two with a strict winner, one tie between
    models 1 and 2 (1 wins), one three-way tie (0 wins), one with a NaN in
    column 1 (it does not win); in a seed-dependent order."""
    def strict(winner):
        row = [rounding(rng.uniform(-1.0, 0.5)) for _ in range(models)]
        row[winner] = rounding(rng.uniform(0.75, 2.0))
        return row
    tie = rounding(rng.uniform(0.5, 1.0))
    rows = [
        strict(2),
        [rounding(rng.uniform(-1.0, 0.25)), tie, tie],
        [tie, tie, tie],
        [rounding(rng.uniform(-1.0, 0.25)), math.nan, rounding(rng.uniform(0.5, 1.0))],
        strict(rng.randrange(models)),
    ]
    rng.shuffle(rows)
    return rows


def build(name, seed):
    case = dict(CASES[name], dtype="f32")
    rng = random.Random(seed)
    models = []
    for i, (_, family) in enumerate(MODELS):
        model_case, weights = layers.build(family, seed * len(MODELS) + i)
        models.append((model_case, weights))
    tokens, hidden = layers.shape_of(models[0][1]["x"])
    t = {
        "models": models,
        "selector": selector_rows(rng, layers.ROUNDING[case["selector_dtype"]], len(MODELS)),
        "inputs": layers.rand_tensor(rng, [REQUESTS, tokens, hidden], 1.0, layers.round_f32),
    }
    return case, t


def check_design(t):
    """The case exercises what it claims: every model is chosen, and each
    request's output differs between models (a wrong choice cannot pass)."""
    chosen = {choose(row) for row in t["selector"]}
    if chosen != set(range(len(MODELS))):
        return f"selector chooses only models {sorted(chosen)}"
    for r, request in enumerate(t["inputs"]):
        outputs = [[v for row in run_model(model, request) for v in row] for model in t["models"]]
        for a in range(len(outputs)):
            for b in range(a + 1, len(outputs)):
                gap = max(abs(x - y) for x, y in zip(outputs[a], outputs[b]))
                if gap < 1e-2:
                    return f"request {r}: models {a} and {b} differ by only {gap:.3g}"
    return None


def literal(value, elem):
    if isinstance(value, list):
        return "[" + ",".join(literal(v, elem) for v in value) + "]"
    if math.isnan(value):
        return NAN_BITS[elem]
    return "%.9e" % value


def model_weights(case, weights):
    """The names of a model's weights, in the order of its layer's operands."""
    present, _ = layers.layer_op(case, weights)
    return [n for n in present if n != "x"]


def model_function(symbol, case, weights, weight_arguments):
    """The model @symbol: its weights are arguments after the request when
    `weight_arguments`, else dense constants in its body."""
    elem = case["dtype"]
    ty = lambda name: layers.tensor_type(weights, name, elem)
    present, op_text = layers.layer_op(case, weights)
    names = model_weights(case, weights)
    if weight_arguments:
        consts = ""
        arguments = "".join(f", %{n}: {ty(n)}" for n in names)
    else:
        consts = "\n".join(f"  %{n} = arith.constant dense<{layers.nest(weights[n])}> : {ty(n)}"
                           for n in names) + "\n"
        arguments = ""
    types = ", ".join(ty(n) for n in present)
    return f"""
func.func private @{symbol}(%x: {ty("x")}{arguments}) -> {ty("x")} {{
{consts}  %y = {op_text}
      : ({types}) -> {ty("x")}
  return %y : {ty("x")}
}}"""


def mlir_module(case, t):
    tokens, hidden = layers.shape_of(t["inputs"])[1:]
    sel_ty = f"tensor<{REQUESTS}x{len(MODELS)}x{case['selector_dtype']}>"
    in_ty = f"tensor<{REQUESTS}x{tokens}x{hidden}xf32>"
    functions = "".join(model_function(symbol, *model, i in case["weight_arguments"])
                        for i, ((symbol, _), model) in enumerate(zip(MODELS, t["models"])))
    models = ", ".join(f"@{symbol}" for symbol, _ in MODELS)
    # The weights the composition passes, in model order: (SSA name, type, value).
    passed = []
    for i, ((symbol, _), (model_case, weights)) in enumerate(zip(MODELS, t["models"])):
        if i in case["weight_arguments"]:
            for n in model_weights(model_case, weights):
                passed.append((f"{symbol}_{n}", layers.tensor_type(weights, n, model_case["dtype"]), weights[n]))
    arguments = "".join(f", %{name}: {ty}" for name, ty, _ in passed)
    group = ""
    if passed:
        group = (" weights(" + ", ".join(f"%{name}" for name, _, _ in passed) + " : " +
                 ", ".join(ty for _, ty, _ in passed) + ")")
    consts = "".join(f"  %{name} = arith.constant dense<{layers.nest(value)}> : {ty}\n"
                     for name, ty, value in passed)
    call_arguments = "".join(f", %{name}" for name, _, _ in passed)
    call_types = "".join(f", {ty}" for _, ty, _ in passed)
    return f"""{functions}
func.func @composition(%selector: {sel_ty}, %inputs: {in_ty}{arguments}) -> {in_ty} {{
  %y = moe.composition %selector, %inputs models [{models}]{group} {{weights_tier = #moe.tier<host>}}
      : {sel_ty}, {in_ty} -> {in_ty}
  return %y : {in_ty}
}}
func.func private @printMemrefF32(tensor<*xf32>)
func.func @main() {{
  %selector = arith.constant dense<{literal(t["selector"], case["selector_dtype"])}> : {sel_ty}
  %inputs = arith.constant dense<{layers.nest(t["inputs"])}> : {in_ty}
{consts}  %y = call @composition(%selector, %inputs{call_arguments}) : ({sel_ty}, {in_ty}{call_types}) -> {in_ty}
  %u = tensor.cast %y : {in_ty} to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}}
"""


def run_case(name, seed, tools):
    case, t = build(name, seed)
    problem = check_design(t)
    if problem:
        return name, False, "bad case: " + problem
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/{name}-{seed}.mlir"
        with open(path, "w") as f:
            f.write(mlir_module(case, t))
        name, ok, detail = layers.check_case(name, case, t, reference, path, tools)
    choices = "".join(str(choose(row)) for row in t["selector"])
    return name, ok, f"{detail}, models chosen {choices}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--opt", dest="moe_opt", required=True, help="moe-opt")
    parser.add_argument("--runner", dest="mlir_runner", required=True, help="mlir-runner")
    parser.add_argument("--lib-dir", required=True)
    parser.add_argument("--only")
    parser.add_argument("--seeds", type=int, default=2)
    tools = parser.parse_args()
    tools.pipeline = "moe-cpu-pipeline"
    tools.count_grouped_matmuls = False
    names = [tools.only] if tools.only else list(CASES)
    failed = 0
    jobs = [(n, s) for n in names for s in range(tools.seeds)]
    for name, seed in jobs:
        name, ok, detail = run_case(name, seed, tools)
        print(f"{'PASS' if ok else 'FAIL'}: {name} (seed {seed}): {detail}")
        failed += not ok
    print(f"{len(jobs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
