#!/usr/bin/env python3
"""Prints an MLIR module of a composition of experts (moe.composition,
docs/composition.md): three whole models of different MoE families, each a
function of --layers stacked MoE layers with residual connections that takes
one request's tokens and its own weights, behind a composition `@serve` that
picks one model per request. The composition keeps the models' weights in host
memory (weights_tier = #moe.tier<host>): the runtime streams the chosen
model's layers up per request and can keep them in an HBM cache.

  scripts/make-composition.py --requests 12 --tokens 16 --hidden 4096 \\
      --layers 4 --dtype bf16 > composition.mlir

Models (their FFN width scales with --ffn-scale):
  chat   Mixtral-style: softmax top-2 of 8, renormalised, F = 3584
  coder  Qwen3-MoE-style: softmax top-4 of 32, renormalised, F = 1024
  math   DeepSeek-V3-style: sigmoid top-4 of 32 in 4 groups (2 kept),
         renormalised, scaled by 2.5, one shared expert of F = 1536, F = 768
"""
import argparse

MODELS = [
    # name, experts, top-k, ffn, routing, shared ffn
    ("chat", 8, 2, 3584, "scoring = softmax, top_k = 2, renormalize = true", 0),
    ("coder", 32, 4, 1024, "scoring = softmax, top_k = 4, renormalize = true", 0),
    ("math", 32, 4, 768,
     "scoring = sigmoid, top_k = 4, renormalize = true, scaling_factor = 2.5, "
     "num_groups = 4, kept_groups = 2", 1536),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, required=True)
    p.add_argument("--tokens", type=int, required=True, help="tokens per request")
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--ffn-scale", type=float, default=1.0)
    p.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    p.add_argument("--weights-tier", default="host", choices=["host", "hbm"],
                   help="where the models' weights live between requests "
                        "(hbm: every run copies the chosen model's weights up "
                        "as plain inputs before it computes)")
    a = p.parse_args()
    if min(a.requests, a.tokens, a.hidden, a.layers) < 1 or a.ffn_scale <= 0:
        p.error("every size must be positive")
    t, h, d = a.tokens, a.hidden, a.dtype
    x = f"tensor<{t}x{h}x{d}>"
    serve_args = [f"%selector: tensor<{a.requests}x{len(MODELS)}xf32> {{moe.input = \"selector\"}}",
                  f"%requests: tensor<{a.requests}x{t}x{h}x{d}> {{moe.input = \"requests\"}}"]
    weights, weight_types = [], []
    print(f"// A composition of {len(MODELS)} models x {a.layers} MoE layers: {a.requests} requests of "
          f"{t} tokens, H {h}, {d} (scripts/make-composition.py).")
    for name, e, k, ffn, routing, shared in MODELS:
        f = max(1, int(ffn * a.ffn_scale))
        s = max(1, int(shared * a.ffn_scale)) if shared else 0
        types = {"router": f"tensor<{e}x{h}x{d}>", "gate": f"tensor<{e}x{f}x{h}x{d}>",
                 "up": f"tensor<{e}x{f}x{h}x{d}>", "down": f"tensor<{e}x{h}x{f}x{d}>"}
        if routing.startswith("scoring = sigmoid"):
            types["bias"] = f"tensor<{e}x{d}>"
        if s:
            types.update({"shared_gate": f"tensor<{s}x{h}x{d}>", "shared_up": f"tensor<{s}x{h}x{d}>",
                          "shared_down": f"tensor<{h}x{s}x{d}>"})
        args = [f"%x: {x}"]
        for i in range(a.layers):
            for w, ty in types.items():
                args.append(f"%{w}{i}: {ty}")
                serve_args.append(f"%{name}_{w}{i}: {ty} {{moe.input = \"{name}.layers.{i}.{w}\"}}")
                weights.append(f"%{name}_{w}{i}")
                weight_types.append(ty)
        print(f"func.func private @{name}({', '.join(args)}) -> {x} {{")
        value = "%x"
        for i in range(a.layers):
            operands = f"{value} router %router{i}"
            operand_types = [x, types["router"]]
            if "bias" in types:
                operands += f" bias %bias{i}"
                operand_types.append(types["bias"])
            operands += f" experts gate %gate{i} up %up{i} down %down{i}"
            operand_types += [types["gate"], types["up"], types["down"]]
            if s:
                operands += f" shared_gate %shared_gate{i} shared_up %shared_up{i} shared_down %shared_down{i}"
                operand_types += [types["shared_gate"], types["shared_up"], types["shared_down"]]
            print(f"  %y{i} = moe.layer {operands}\n"
                  f"      routing <{routing}> activation silu layout out_in\n"
                  f"      : ({', '.join(operand_types)}) -> {x}")
            # The residual connection keeps the values' scale from layer to
            # layer.
            print(f"  %h{i} = arith.addf {value}, %y{i} : {x}")
            value = f"%h{i}"
        print(f"  return {value} : {x}")
        print("}")
    result = f"tensor<{a.requests}x{t}x{h}x{d}>"
    print(f"func.func @serve({', '.join(serve_args)}) -> {result} {{")
    print(f"  %y = moe.composition %selector, %requests models [{', '.join('@' + m[0] for m in MODELS)}]")
    print(f"      weights({', '.join(weights)}\n              : {', '.join(weight_types)})")
    print(f"      {{weights_tier = #moe.tier<{a.weights_tier}>}}")
    print(f"      : tensor<{a.requests}x{len(MODELS)}xf32>, {result} -> {result}")
    print(f"  return %y : {result}")
    print("}")


if __name__ == "__main__":
    main()
