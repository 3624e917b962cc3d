#!/usr/bin/env python3
"""Prints an MLIR module of N stacked Mixtral-style MoE layers (softmax top-k,
renormalised, SiLU, out_in weights), each with its own weights and a
residual connection, as one public
function `@layers`: the input of a memory-tier plan (moe-plan-tiers,
docs/memory-tiers.md), whose weights may not all fit in HBM. With
`--chain C` each layer is a chain-of-experts block instead (`moe.chain`, C
routed iterations over the same experts, a router of its own per iteration,
softmax top-k without renormalisation as in the CoE paper).

  scripts/make-stacked-layers.py --layers 4 --tokens 16 --hidden 4096 \\
      --ffn 14336 --experts 8 --top-k 2 --dtype bf16 > stacked.mlir
"""
import argparse


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--tokens", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--ffn", type=int, required=True)
    p.add_argument("--experts", type=int, required=True)
    p.add_argument("--top-k", type=int, required=True)
    p.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    p.add_argument("--chain", type=int, default=0,
                   help="iterations of a moe.chain per layer (0: moe.layer)")
    a = p.parse_args()
    if min(a.layers, a.tokens, a.hidden, a.ffn, a.experts, a.top_k) < 1 or a.top_k > a.experts:
        p.error("every size must be positive and --top-k at most --experts")
    if a.chain < 0:
        p.error("--chain must not be negative")
    t, h, f, e, d = a.tokens, a.hidden, a.ffn, a.experts, a.dtype
    x = f"tensor<{t}x{h}x{d}>"
    router = f"tensor<{a.chain}x{e}x{h}x{d}>" if a.chain else f"tensor<{e}x{h}x{d}>"
    gate = f"tensor<{e}x{f}x{h}x{d}>"
    down = f"tensor<{e}x{h}x{f}x{d}>"
    args = [f"%x: {x} {{moe.input = \"hidden_states\"}}"]
    for i in range(a.layers):
        args += [f"%router{i}: {router} {{moe.input = \"layers.{i}.router\"}}",
                 f"%gate{i}: {gate} {{moe.input = \"layers.{i}.gate\"}}",
                 f"%up{i}: {gate} {{moe.input = \"layers.{i}.up\"}}",
                 f"%down{i}: {down} {{moe.input = \"layers.{i}.down\"}}"]
    kind = f"chain-of-experts blocks of {a.chain} iterations" if a.chain else "MoE layers"
    print(f"// {a.layers} stacked {kind}: T {t}, H {h}, F {f}, E {e}, K {a.top_k}, {d}"
          " (scripts/make-stacked-layers.py).")
    print(f"func.func @layers({', '.join(args)}) -> {x} {{")
    value = "%x"
    for i in range(a.layers):
        if a.chain:
            head = f"moe.chain {value} iterations {a.chain} router %router{i}"
            routing = f"<scoring = softmax, top_k = {a.top_k}, renormalize = false>"
        else:
            head = f"moe.layer {value} router %router{i}"
            routing = f"<scoring = softmax, top_k = {a.top_k}, renormalize = true>"
        print(f"  %y{i} = {head} experts gate %gate{i} up %up{i} down %down{i}\n"
              f"      routing {routing} activation silu layout out_in\n"
              f"      : ({x}, {router}, {gate}, {gate}, {down}) -> {x}")
        # The residual connection of a transformer block keeps the values'
        # scale from layer to layer.
        print(f"  %h{i} = arith.addf {value}, %y{i} : {x}")
        value = f"%h{i}"
    print(f"  return {value} : {x}")
    print("}")


if __name__ == "__main__":
    main()
