#!/usr/bin/env python3
"""Compiles MoE layers with moe-cpu-pipeline, runs them with mlir-runner and
compares the output with an independent plain-Python reference (double
precision loops written from the semantics of DESIGN §8, sharing no code with
the compiler).

Each case is a moe.layer (or moe.chain) with random weights embedded as dense
constants; the compiled output is printed by printMemrefF32 and parsed back.
Usage: cpu_layers.py --opt MOE_OPT --runner MLIR_RUNNER --lib-dir DIR [--only NAME] [--seeds N]
"""

import argparse
import concurrent.futures
import math
import random
import re
import struct
import subprocess
import sys
import tempfile

# ----------------------------------------------------------------------------
# Numbers
# ----------------------------------------------------------------------------


def round_bf16(value):
    """Rounds a float to bfloat16 (nearest even), as the compiled code sees it."""
    bits = struct.unpack("<I", struct.pack("<f", value))[0]
    bits += 0x7FFF + ((bits >> 16) & 1)
    return struct.unpack("<f", struct.pack("<I", (bits >> 16) << 16))[0]


def round_f32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


def round_f16(value):
    return struct.unpack("<e", struct.pack("<e", value))[0]


ROUNDING = {"f32": round_f32, "bf16": round_bf16, "f16": round_f16}


def rand_tensor(rng, shape, scale, rounding):
    if len(shape) == 1:
        return [rounding(rng.uniform(-scale, scale)) for _ in range(shape[0])]
    return [rand_tensor(rng, shape[1:], scale, rounding) for _ in range(shape[0])]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def silu(x):
    return x / (1.0 + math.exp(-x))


def gelu(x):
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def relu(x):
    return max(x, 0.0)


ACTIVATIONS = {"silu": silu, "gelu": gelu, "relu": relu}

# ----------------------------------------------------------------------------
# Reference (DESIGN §8)
# ----------------------------------------------------------------------------


def linear(x, w, layout):
    """x · W where W is [in, out] (in_out) or [out, in] (out_in)."""
    if layout == "out_in":
        return [dot(x, row) for row in w]
    return [sum(x[i] * w[i][j] for i in range(len(x))) for j in range(len(w[0]))]


def ffn(x, gate, up, down, activation, layout):
    act = ACTIVATIONS[activation]
    hidden = linear(x, up, layout)
    if gate is not None:
        hidden = [act(g) * u for g, u in zip(linear(x, gate, layout), hidden)]
    else:
        hidden = [act(u) for u in hidden]
    return linear(hidden, down, layout)


def route(logits, bias, r):
    """One token's (indices, weights) for routing options r."""
    n = len(logits)
    if r["scoring"] == "softmax":
        m = max(logits)
        ex = [math.exp(v - m) for v in logits]
        scores = [v / sum(ex) for v in ex]
    else:
        scores = [1.0 / (1.0 + math.exp(-v)) for v in logits]
    select = [s + (bias[e] if bias else 0.0) for e, s in enumerate(scores)]
    groups, kept = r.get("num_groups", 1), r.get("kept_groups")
    if groups > 1 and kept is not None and kept < groups:
        size = n // groups
        def group_score(g):
            members = sorted(select[g * size:(g + 1) * size], reverse=True)
            return members[0] + members[1] if r.get("group_score", "top2_sum") == "top2_sum" else members[0]
        keep = sorted(range(groups), key=lambda g: (-group_score(g), g))[:kept]
        select = [v if e // size in keep else -math.inf for e, v in enumerate(select)]
    order = sorted(range(n), key=lambda e: (-select[e], e))[:r["top_k"]]
    indices, weights = [], []
    first_zero = n - r.get("zero_experts", 0) - r.get("copy_experts", 0) - r.get("constant_experts", 0)
    total = 0.0
    for k, e in enumerate(order):
        if "top_p" in r and k > 0 and total >= r["top_p"]:
            indices.append(first_zero)
            weights.append(0.0)
            continue
        indices.append(e)
        weights.append(scores[e])
        total += scores[e]
    if r.get("renormalize") and total > 0:
        weights = [w / total for w in weights]
    return indices, [w * r.get("scaling_factor", 1.0) for w in weights]


def reference_layer(case, x, weights, router, bias):
    r, layout = case["routing"], case["layout"]
    nulls = r.get("zero_experts", 0) + r.get("copy_experts", 0) + r.get("constant_experts", 0)
    tokens = len(x)
    routed = [route(linear(x[t], router, layout), bias, r) for t in range(tokens)]
    num_routed = len(weights["up"])
    # Which (t, k) each expert keeps: all, or `capacity` by position / weight.
    kept = set()
    for e in range(num_routed):
        slots = [(t, k) for t in range(tokens) for k in range(r["top_k"]) if routed[t][0][k] == e]
        if "capacity" in case:
            if case["drop_policy"] == "score":
                slots = sorted(slots, key=lambda s: (-routed[s[0]][1][s[1]], s))
            slots = slots[:case["capacity"]]
        kept.update(slots)
    out = []
    for t in range(tokens):
        y = [0.0] * len(x[t])
        for k in range(r["top_k"]):
            e, w = routed[t][0][k], routed[t][1][k]
            if e < num_routed:
                if (t, k) not in kept:
                    continue
                o = ffn(x[t], weights["gate"][e] if "gate" in weights else None,
                        weights["up"][e], weights["down"][e], case["activation"], layout)
                y = [a + w * b for a, b in zip(y, o)]
                continue
            j = e - num_routed
            zeros, copies = r.get("zero_experts", 0), r.get("copy_experts", 0)
            if j < zeros:
                continue
            if j < zeros + copies:
                y = [a + w * b for a, b in zip(y, x[t])]
                continue
            c = j - zeros - copies
            a1, a2 = dot(weights["mix"][c][0], x[t]), dot(weights["mix"][c][1], x[t])
            m = max(a1, a2)
            e1, e2 = math.exp(a1 - m), math.exp(a2 - m)
            alpha1, alpha2 = e1 / (e1 + e2), e2 / (e1 + e2)
            y = [a + w * (alpha1 * xi + alpha2 * vi) for a, xi, vi in zip(y, x[t], weights["vectors"][c])]
        if "shared_up" in weights:
            s = ffn(x[t], weights.get("shared_gate"), weights["shared_up"], weights["shared_down"],
                    case["activation"], layout)
            if "shared_sigmoid_gate" in weights:
                g = 1.0 / (1.0 + math.exp(-dot(x[t], weights["shared_sigmoid_gate"])))
                s = [g * v for v in s]
            y = [a + b for a, b in zip(y, s)]
        out.append(y)
    return out


def reference(case, tensors):
    x = tensors["x"]
    if case.get("iterations"):
        for i in range(case["iterations"]):
            bias = tensors["bias"][i] if "bias" in tensors else None
            update = reference_layer(case, x, tensors, tensors["router"][i], bias)
            x = [[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(x, update)]
        return x
    return reference_layer(case, x, tensors, tensors["router"], tensors.get("bias"))

def softmax(values):
    m = max(values)
    ex = [math.exp(v - m) for v in values]
    return [v / sum(ex) for v in ex]


def top_ascending(values, count):
    """Positions of the `count` largest values (ties: lower position), ascending."""
    return sorted(sorted(range(len(values)), key=lambda s: (-values[s], s))[:count])


def reference_union_ffn(case, t):
    x, B, S = t["x"], len(t["x"]), len(t["x"][0])
    N, capacity = case["union_experts"], case.get("capacity", S // 2)
    F = len(t["up"][0])
    width = F // N
    act = ACTIVATIONS[case["activation"]]
    out = [[[0.0] * len(x[0][0]) for _ in range(S)] for _ in range(B)]
    for b in range(B):
        p = [softmax([dot(x[b][s], [row[n] for row in t["router"]]) + t["router_bias"][n] for n in range(N)])
             for s in range(S)]
        for e in range(N):
            cols = range(e * width, (e + 1) * width)
            for s in top_ascending([p[s][e] for s in range(S)], capacity):
                up = [sum(x[b][s][i] * t["up"][i][f] for i in range(len(x[b][s]))) for f in cols]
                if "gate" in t:
                    g = [sum(x[b][s][i] * t["gate"][i][f] for i in range(len(x[b][s]))) for f in cols]
                    h = [act(a) * u for a, u in zip(g, up)]
                else:
                    h = [act(u) for u in up]
                for m in range(len(out[b][s])):
                    out[b][s][m] += sum(h[j] * t["down"][f][m] for j, f in enumerate(cols))
    return [row for seq in out for row in seq]


def rope(vector, position, theta):
    half = len(vector) // 2
    out = vector[:]
    for i in range(half):
        angle = position * theta ** (-2.0 * i / len(vector))
        c, s = math.cos(angle), math.sin(angle)
        out[i] = vector[i] * c - vector[i + half] * s
        out[i + half] = vector[i + half] * c + vector[i] * s
    return out


def reference_union_attention(case, t):
    x, B, S = t["x"], len(t["x"]), len(t["x"][0])
    N, D = len(t["gate_bias"]), len(t["x"][0][0])
    Dh, top_k, capacity, theta = len(t["query"][0][0]), case["top_k"], case["capacity"], case["rope_theta"]
    g = [[softmax([dot(x[b][s], [row[n] for row in t["gate"]]) + t["gate_bias"][n] for n in range(N)])
          for s in range(S)] for b in range(B)]
    for b in range(B):
        for s in range(S):
            keep = sorted(range(N), key=lambda n: (-g[b][s][n], n))[:top_k]
            g[b][s] = [v if n in keep else 0.0 for n, v in enumerate(g[b][s])]
    for s in range(S):
        for n in range(N):
            total = sum(g[b][s][n] for b in range(B))
            if total > 0:
                for b in range(B):
                    g[b][s][n] /= total
    out = [[[0.0] * D for _ in range(S)] for _ in range(B)]
    project = lambda v, w: [sum(v[i] * w[i][j] for i in range(len(v))) for j in range(len(w[0]))]
    for n in range(N):
        for b in range(B):
            kept = top_ascending([g[b][s][n] for s in range(S)], capacity)
            q = [rope(project(x[b][s], t["query"][n]), c, theta) for c, s in enumerate(kept)]
            k = [rope(project(x[b][s], t["key"][n]), c, theta) for c, s in enumerate(kept)]
            v = [project(x[b][s], t["value"][n]) for s in kept]
            for i, s in enumerate(kept):
                w = softmax([dot(q[i], k[j]) / math.sqrt(Dh) for j in range(i + 1)])
                o = [sum(w[j] * v[j][d] for j in range(i + 1)) for d in range(Dh)]
                y = project(o, t["output"][n])
                out[b][s] = [a + c for a, c in zip(out[b][s], y)]
    return [row for seq in out for row in seq]


# ----------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------

BASE = dict(tokens=5, hidden=8, intermediate=12, experts=6, layout="out_in",
            activation="silu", gated=True, dtype="f32")

CASES = {
    "mixtral": dict(routing=dict(scoring="softmax", top_k=2, renormalize=True)),
    "single-token": dict(tokens=1, routing=dict(scoring="softmax", top_k=2, renormalize=True)),
    "dense-mixture-k-equals-e": dict(routing=dict(scoring="softmax", top_k=6, renormalize=True)),
    "ties-lower-index-wins": dict(router_scale=0.0, routing=dict(scoring="softmax", top_k=3)),
    "all-tokens-one-expert": dict(bias_scale=0.0, bias_boost=(4, 10.0),
                                  routing=dict(scoring="sigmoid", top_k=2, renormalize=True)),
    "olmoe-in-out-gelu-plain": dict(layout="in_out", activation="gelu", gated=False,
                                    routing=dict(scoring="softmax", top_k=4)),
    "qwen2-shared-sigmoid-gate": dict(shared=True, shared_gate=True,
                                      routing=dict(scoring="softmax", top_k=2)),
    "deepseek-v3": dict(experts=8, bias_scale=0.3, shared=True,
                        routing=dict(scoring="sigmoid", top_k=2, renormalize=True,
                                     scaling_factor=2.5, num_groups=4, kept_groups=2)),
    "deepseek-v2-group-max": dict(experts=8, routing=dict(scoring="softmax", top_k=3, scaling_factor=16.0,
                                                          num_groups=4, kept_groups=2, group_score="max")),
    "capacity-position": dict(tokens=8, capacity=2, drop_policy="position",
                              routing=dict(scoring="softmax", top_k=2, renormalize=True)),
    "capacity-score": dict(tokens=8, capacity=2, drop_policy="score",
                           routing=dict(scoring="softmax", top_k=2, renormalize=True)),
    "null-experts": dict(experts=8, router_scale=2.0,
                         routing=dict(scoring="softmax", top_k=3, zero_experts=1, copy_experts=1,
                                      constant_experts=2)),
    "top-p": dict(experts=8, router_scale=2.0,
                  routing=dict(scoring="softmax", top_k=4, top_p=0.5, zero_experts=2, renormalize=True)),
    "mixtral-bf16": dict(dtype="bf16", routing=dict(scoring="softmax", top_k=2, renormalize=True)),
    "chain-two-iterations": dict(iterations=2, routing=dict(scoring="softmax", top_k=2)),
    # More than 64 slots: the GPU form's dispatch works on chunks of 64 slots
    # (135 slots: two full chunks and a partial one; 80 slots all to one expert).
    "many-tokens-chunks": dict(tokens=45, routing=dict(scoring="softmax", top_k=3, renormalize=True)),
    "many-tokens-one-expert": dict(tokens=40, bias_scale=0.0, bias_boost=(4, 10.0),
                                   routing=dict(scoring="sigmoid", top_k=2, renormalize=True)),
    # More than 16 chunks (1203 slots: 19 chunks, the last partial): an
    # expert's chunk counts are scanned in two levels (5 groups of 4 chunks).
    "many-tokens-two-level-scan": dict(tokens=401, routing=dict(scoring="softmax", top_k=3,
                                                                renormalize=True)),
}

# Sizes the tensor-core kernel of convert-moe-to-gpu takes (16-bit floats, H
# and F multiples of 128), so that moe-cpu-pipeline{parallel-forms=true
# tensor-cores=true} computes the expert FFNs and the router logits as
# moe.grouped_matmul (see --count-grouped-matmuls); E is not a multiple of the
# column tile (the router's masked columns).
TENSOR_CORE = dict(hidden=128, intermediate=128, experts=4, dtype="bf16")
TENSOR_CORE_CASES = {
    "mixtral-tc-bf16": dict(TENSOR_CORE, routing=dict(scoring="softmax", top_k=2, renormalize=True)),
    "mixtral-tc-f16": dict(TENSOR_CORE, dtype="f16", routing=dict(scoring="softmax", top_k=2, renormalize=True)),
    "deepseek-v3-tc-bf16": dict(TENSOR_CORE, experts=8, bias_scale=0.3, shared=True,
                                routing=dict(scoring="sigmoid", top_k=2, renormalize=True, scaling_factor=2.5,
                                             num_groups=4, kept_groups=2)),
    "capacity-score-tc-bf16": dict(TENSOR_CORE, tokens=8, capacity=2, drop_policy="score",
                                   routing=dict(scoring="softmax", top_k=2, renormalize=True)),
    "null-experts-tc-bf16": dict(TENSOR_CORE, experts=8, router_scale=2.0,
                                 routing=dict(scoring="softmax", top_k=3, zero_experts=1, copy_experts=1,
                                              constant_experts=2)),
    "single-token-tc-bf16": dict(TENSOR_CORE, tokens=1, routing=dict(scoring="softmax", top_k=2,
                                                                       renormalize=True)),
    "chain-tc-bf16": dict(TENSOR_CORE, iterations=2, routing=dict(scoring="softmax", top_k=2)),
}

UNION_CASES = {
    "union-ffn-gated": dict(kind="union_ffn", union_experts=4, activation="silu", gated=True),
    "union-ffn-plain-capacity": dict(kind="union_ffn", union_experts=2, activation="relu", gated=False,
                                     capacity=3),
    "union-attention": dict(kind="union_attention", heads=3, head_dim=4, top_k=2, capacity=3,
                            rope_theta=10000.0),
    "union-attention-bf16": dict(kind="union_attention", heads=2, head_dim=4, top_k=1, capacity=4,
                                 rope_theta=500.0, dtype="bf16"),
}


def build_union(name, seed):
    case = dict(dict(batch=2, seq=6, model=8, intermediate=16, dtype="f32"), **UNION_CASES[name])
    rng = random.Random(seed)
    rounding = ROUNDING[case["dtype"]]
    B, S, D = case["batch"], case["seq"], case["model"]
    t = {"x": rand_tensor(rng, [B, S, D], 1.0, rounding)}
    if case["kind"] == "union_ffn":
        N, F = case["union_experts"], case["intermediate"]
        t["router"] = rand_tensor(rng, [D, N], 1.0, rounding)
        t["router_bias"] = rand_tensor(rng, [N], 0.2, rounding)
        if case["gated"]:
            t["gate"] = rand_tensor(rng, [D, F], 1.0 / math.sqrt(D), rounding)
        t["up"] = rand_tensor(rng, [D, F], 1.0 / math.sqrt(D), rounding)
        t["down"] = rand_tensor(rng, [F, D], 1.0 / math.sqrt(F), rounding)
    else:
        N, Dh = case["heads"], case["head_dim"]
        t["gate"] = rand_tensor(rng, [D, N], 1.0, rounding)
        t["gate_bias"] = rand_tensor(rng, [N], 0.2, rounding)
        for name_ in ("query", "key", "value"):
            t[name_] = rand_tensor(rng, [N, D, Dh], 1.0 / math.sqrt(D), rounding)
        t["output"] = rand_tensor(rng, [N, Dh, D], 1.0 / math.sqrt(Dh), rounding)
    return case, t


def union_module(case, t):
    elem = case["dtype"]
    def ty(name):
        return "tensor<" + "x".join(map(str, shape_of(t[name]))) + "x" + elem + ">"
    if case["kind"] == "union_ffn":
        present = ["x", "router", "router_bias"] + (["gate"] if "gate" in t else []) + ["up", "down"]
        ffn = ("gate %gate " if "gate" in t else "") + "up %up down %down"
        cap = f" capacity {case['capacity']}" if "capacity" in case else ""
        op = (f"moe.union_ffn %x router %router, %router_bias ffn {ffn} experts {case['union_experts']}{cap} "
              f"activation {case['activation']}")
    else:
        present = ["x", "gate", "gate_bias", "query", "key", "value", "output"]
        op = (f"moe.union_attention %x gate %gate, %gate_bias qkv %query, %key, %value output %output "
              f"top_k {case['top_k']} capacity {case['capacity']} {{rope_theta = {case['rope_theta']} : f64}}")
    return wrap_module(elem, ty, present, op, ty("x"), t)



def routing_text(r):
    parts = [f"scoring = {r['scoring']}", f"top_k = {r['top_k']}"]
    for key in ("renormalize",):
        if r.get(key):
            parts.append(f"{key} = true")
    for key in ("scaling_factor",):
        if key in r:
            parts.append(f"{key} = {r[key]}")
    for key in ("num_groups", "kept_groups"):
        if key in r:
            parts.append(f"{key} = {r[key]}")
    if "group_score" in r:
        parts.append(f"group_score = {r['group_score']}")
    if "top_p" in r:
        parts.append(f"top_p = {r['top_p']}")
    for key in ("zero_experts", "copy_experts", "constant_experts"):
        if r.get(key):
            parts.append(f"{key} = {r[key]}")
    return "<" + ", ".join(parts) + ">"


def nest(value):
    if isinstance(value, list):
        return "[" + ",".join(nest(v) for v in value) + "]"
    return "%.9e" % value


def shape_of(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return shape


def build(name, seed):
    case = dict(BASE, **(CASES.get(name) or TENSOR_CORE_CASES[name]))
    rng = random.Random(seed)
    rounding = ROUNDING[case["dtype"]]
    T, H, F = case["tokens"], case["hidden"], case["intermediate"]
    r = case["routing"]
    nulls = r.get("zero_experts", 0) + r.get("copy_experts", 0) + r.get("constant_experts", 0)
    E = case["experts"]                      # logit columns
    routed = E - nulls
    in_out = case["layout"] == "in_out"
    def weight(rows, cols, scale):           # a [in=rows, out=cols] projection in the layout
        return rand_tensor(rng, [rows, cols] if in_out else [cols, rows], scale, rounding)
    t = {"x": rand_tensor(rng, [T, H], 1.0, rounding)}
    router_scale = case.get("router_scale", 1.0)
    if case.get("iterations"):
        t["router"] = [weight(H, E, router_scale) for _ in range(case["iterations"])]
    else:
        t["router"] = weight(H, E, router_scale)
    if "bias_scale" in case:
        t["bias"] = rand_tensor(rng, [E], case["bias_scale"], rounding)
        if "bias_boost" in case:
            t["bias"][case["bias_boost"][0]] = case["bias_boost"][1]
    s_in, s_mid = 1.0 / math.sqrt(H), 1.0 / math.sqrt(F)
    if case["gated"]:
        t["gate"] = [weight(H, F, s_in) for _ in range(routed)]
    t["up"] = [weight(H, F, s_in) for _ in range(routed)]
    t["down"] = [weight(F, H, s_mid) for _ in range(routed)]
    if case.get("shared"):
        t["shared_gate"] = weight(H, 2 * F, s_in)
        t["shared_up"] = weight(H, 2 * F, s_in)
        t["shared_down"] = weight(2 * F, H, 1.0 / math.sqrt(2 * F))
        if case.get("shared_gate"):
            t["shared_sigmoid_gate"] = rand_tensor(rng, [H], s_in, rounding)
    if r.get("constant_experts"):
        t["vectors"] = rand_tensor(rng, [r["constant_experts"], H], 1.0, rounding)
        t["mix"] = rand_tensor(rng, [r["constant_experts"], 2, H], s_in, rounding)
    return case, t


OPERANDS = [("x", None), ("router", "router"), ("bias", "bias"), ("gate", "gate"), ("up", "up"),
            ("down", "down"), ("shared_gate", "shared_gate"), ("shared_up", "shared_up"),
            ("shared_down", "shared_down"), ("shared_sigmoid_gate", "shared_sigmoid_gate")]


def tensor_type(t, name, elem):
    return "tensor<" + "x".join(map(str, shape_of(t[name]))) + "x" + elem + ">"


def mlir_module(case, t):
    elem = case["dtype"]
    ty = lambda name: tensor_type(t, name, elem)
    present, body_op = layer_op(case, t)
    return wrap_module(elem, ty, present, body_op, ty("x"), t)


def layer_op(case, t):
    """(operand names in order, the moe.layer / moe.chain op text without its
    types) of a case built by build()."""
    present = [n for n, _ in OPERANDS if n in t]
    if "vectors" in t:
        present += ["vectors", "mix"]
    parts = [f"%x router %router"]
    if "bias" in t:
        parts.append("bias %bias")
    parts.append(("experts gate %gate " if "gate" in t else "experts ") + "up %up down %down")
    for n in ("shared_gate", "shared_up", "shared_down", "shared_sigmoid_gate"):
        if n in t:
            parts.append(f"{n} %{n}")
    if "vectors" in t:
        parts.append("constants(%vectors, %mix)")
    op = "moe.chain" if case.get("iterations") else "moe.layer"
    head = f"%x iterations {case['iterations']} router %router" if case.get("iterations") else parts[0]
    body = " ".join([head] + parts[1:])
    extra = ""
    if "capacity" in case:
        extra = f" capacity {case['capacity']} drop {case['drop_policy']}"
    body_op = (f"{op} {body} routing {routing_text(case['routing'])} activation {case['activation']} "
               f"layout {case['layout']}{extra}")
    return present, body_op


def wrap_module(elem, ty, present, op_text, out_ty, tensors):
    """@layer(present...) = op_text, and a @main that calls it on `tensors`
    embedded as constants and prints the result."""
    args = ", ".join(f"%{n}: {ty(n)}" for n in present)
    types = ", ".join(ty(n) for n in present)
    consts = "\n".join(f"  %c_{n} = arith.constant dense<{nest(tensors[n])}> : {ty(n)}" for n in present)
    call_args = ", ".join(f"%c_{n}" for n in present)
    widen, printed, print_ty = "", "%y", out_ty
    if elem != "f32":
        print_ty = out_ty.replace(elem, "f32")
        rank = out_ty.count("x")
        dims = ", ".join(f"d{i}" for i in range(rank))
        identity = f"affine_map<({dims}) -> ({dims})>"
        parallel = ", ".join(['"parallel"'] * rank)
        widen = f"""
  %init = tensor.empty() : {print_ty}
  %wide = linalg.generic {{indexing_maps = [{identity}, {identity}], iterator_types = [{parallel}]}} ins(%y : {out_ty}) outs(%init : {print_ty}) {{
  ^bb0(%a: {elem}, %b: f32):
    %e = arith.extf %a : {elem} to f32
    linalg.yield %e : f32
  }} -> {print_ty}"""
        printed = "%wide"
    return f"""
func.func @layer({args}) -> {out_ty} {{
  %y = {op_text}
      : ({types}) -> {out_ty}
  return %y : {out_ty}
}}
func.func private @printMemrefF32(tensor<*xf32>)
func.func @main() {{
{consts}
  %y = call @layer({call_args}) : ({types}) -> {out_ty}{widen}
  %u = tensor.cast {printed} : {print_ty} to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}}
"""


TOLERANCE = {"f32": 1e-4, "bf16": 1.6e-2, "f16": 1e-2}


def count_grouped_matmuls(path, tools):
    """moe.grouped_matmul ops the tensor-core forms make of the module."""
    forms = subprocess.run([tools.moe_opt, path, "--convert-moe-to-parallel-linalg=tensor-cores=true"],
                           capture_output=True, text=True)
    if forms.returncode:
        return None
    return len(re.findall(r"= moe\.grouped_matmul ", forms.stdout))


def run_case(name, seed, tools):
    if name in UNION_CASES:
        case, tensors = build_union(name, seed)
        text = union_module(case, tensors)
        expected = (reference_union_ffn if case["kind"] == "union_ffn" else reference_union_attention)
    else:
        case, tensors = build(name, seed)
        text = mlir_module(case, tensors)
        expected = reference
    # The tensor-core-sized cases embed megabytes of weights: no file is left.
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/{name}-{seed}.mlir"
        with open(path, "w") as f:
            f.write(text)
        return check_case(name, case, tensors, expected, path, tools)


def check_case(name, case, tensors, expected, path, tools):
    """Compiles and runs the module at `path` and compares it with `expected`."""
    libs = ",".join(f"{tools.lib_dir}/{lib}" for lib in ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))
    compiled = subprocess.run([tools.moe_opt, path, f"--pass-pipeline=builtin.module({tools.pipeline})"],
                              capture_output=True, text=True)
    if compiled.returncode:
        return name, False, "compile failed:\n" + compiled.stderr[-2000:]
    ran = subprocess.run([tools.mlir_runner, "-e", "main", "-entry-point-result=void", f"-shared-libs={libs}"],
                         input=compiled.stdout, capture_output=True, text=True)
    if ran.returncode or "data =" not in ran.stdout:
        return name, False, "run failed:\n" + ran.stderr[-2000:]
    got = [float(v) for v in re.findall(r"-?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)", ran.stdout.split("data =", 1)[1])]
    want = [v for row in expected(case, tensors) for v in row]
    if len(got) != len(want):
        return name, False, f"expected {len(want)} values, got {len(got)}"
    error = max(abs(a - b) for a, b in zip(got, want))
    bound = TOLERANCE[case["dtype"]] * max(1.0, max(abs(v) for v in want))
    ok = error <= bound and not any(math.isnan(v) for v in got)
    detail = f"max abs error {error:.3g} (bound {bound:.3g})"
    if tools.count_grouped_matmuls:
        detail += f", grouped matmuls {count_grouped_matmuls(path, tools)}"
    return name, ok, detail


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--opt", dest="moe_opt", required=True, help="moe-opt")
    parser.add_argument("--runner", dest="mlir_runner", required=True, help="mlir-runner")
    parser.add_argument("--lib-dir", required=True)
    parser.add_argument("--only")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--pipeline", default="moe-cpu-pipeline",
                        help="the CPU pipeline with options, e.g. moe-cpu-pipeline{parallel-forms=true}")
    parser.add_argument("--cases", choices=["layers", "tensor-core-sizes"], default="layers",
                        help="layers: the layer and union cases; tensor-core-sizes: layers sized for the "
                             "tensor-core kernel")
    parser.add_argument("--count-grouped-matmuls", action="store_true",
                        help="also report how many moe.grouped_matmul convert-moe-to-parallel-linalg"
                             "{tensor-cores} makes of each case")
    tools = parser.parse_args()
    if tools.only:
        names = [tools.only]
    elif tools.cases == "tensor-core-sizes":
        names = list(TENSOR_CORE_CASES)
    else:
        names = list(CASES) + list(UNION_CASES)
    jobs = [(n, s) for n in names for s in range(tools.seeds)]
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for name, ok, detail in pool.map(lambda job: run_case(job[0], job[1], tools), jobs):
            print(f"{'PASS' if ok else 'FAIL'}: {name}: {detail}")
            failed += not ok
    print(f"{len(jobs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
