#!/usr/bin/env python3
"""Writes a synthetic routing trace for moe-place-experts (and, optionally, a
matching module of moe.layer ops).

usage: make-routing-trace.py [options] > trace.json

The trace format is described in `moe-opt --help` / docs/Passes.md
(moe-place-experts). The synthetic model is a skewed router with inter-layer
affinity, as measured on real MoE models (ExFlow, Yao et al. 2024; the
DeepSeek and Mixtral routing analyses):

* Each token has a latent "topic" (one of --topics), which drifts to a random
  topic with probability --drift at each layer.
* Each (layer, topic) prefers a small set of experts (--preferred of them),
  drawn at random per layer, so that the experts a token uses in consecutive
  layers are correlated through its topic.
* Each layer has a Zipf-skewed popularity over its experts (exponent --skew,
  in a random order per layer): some experts are hot, some cold.
* A token picks its top-k distinct experts: each pick comes from its topic's
  preferred set with probability --affinity, else from the layer popularity.

Everything is drawn from Python's `random.Random(--seed)`: the same options
give the same trace. Standard library only.
"""
import argparse
import json
import random
import sys


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4, help="MoE layers")
    parser.add_argument("--experts", type=int, default=16, help="routed experts per layer")
    parser.add_argument("--top-k", type=int, default=2, help="experts per token")
    parser.add_argument("--tokens", type=int, default=1024, help="tokens traced")
    parser.add_argument("--topics", type=int, default=8, help="latent token topics")
    parser.add_argument("--preferred", type=int, default=0,
                        help="preferred experts per (layer, topic); 0: 2 * top-k")
    parser.add_argument("--affinity", type=float, default=0.7,
                        help="probability that a pick comes from the topic's preferred experts")
    parser.add_argument("--drift", type=float, default=0.1,
                        help="probability that a token changes topic between layers")
    parser.add_argument("--skew", type=float, default=1.0,
                        help="Zipf exponent of the per-layer expert popularity")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mlir", metavar="PATH",
                        help="also write a module of --layers moe.layer ops matching the trace")
    parser.add_argument("--hidden", type=int, default=64, help="hidden size H of the module")
    parser.add_argument("--intermediate", type=int, default=32,
                        help="expert intermediate size F of the module")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "f16", "f32"])
    parser.add_argument("--ep", type=int, default=0,
                        help="EP size of the module's moe.parallel plan; 0: no plan")
    parser.add_argument("-o", "--output", metavar="PATH", help="trace file (default: stdout)")
    args = parser.parse_args()
    if args.layers < 1 or args.experts < 1 or args.tokens < 0 or args.topics < 1:
        parser.error("--layers, --experts and --topics must be positive, --tokens >= 0")
    if not 1 <= args.top_k <= args.experts:
        parser.error("--top-k must be in [1, --experts]")
    if not (0.0 <= args.affinity <= 1.0 and 0.0 <= args.drift <= 1.0):
        parser.error("--affinity and --drift are probabilities")
    if args.preferred <= 0:
        args.preferred = min(args.experts, 2 * args.top_k)
    args.preferred = min(args.preferred, args.experts)
    if args.ep < 0 or (args.ep and args.experts % args.ep):
        parser.error("--ep must divide --experts")
    return args


def make_trace(args):
    rng = random.Random(args.seed)
    experts, k = args.experts, args.top_k
    # Per layer: Zipf popularity in a random expert order, and each topic's
    # preferred experts.
    popularity, preferred = [], []
    for _ in range(args.layers):
        order = list(range(experts))
        rng.shuffle(order)
        weights = [0.0] * experts
        for rank, expert in enumerate(order):
            weights[expert] = 1.0 / (rank + 1) ** args.skew
        popularity.append(weights)
        preferred.append([rng.sample(range(experts), args.preferred)
                          for _ in range(args.topics)])

    topics = [rng.randrange(args.topics) for _ in range(args.tokens)]
    tokens_per_expert = [[0] * experts for _ in range(args.layers)]
    pairs = [dict() for _ in range(args.layers)]
    previous = [None] * args.tokens
    for layer in range(args.layers):
        counts = tokens_per_expert[layer]
        for token in range(args.tokens):
            if layer > 0 and rng.random() < args.drift:
                topics[token] = rng.randrange(args.topics)
            chosen = []
            favourites = preferred[layer][topics[token]]
            while len(chosen) < k:
                if rng.random() < args.affinity:
                    expert = rng.choice(favourites)
                else:
                    expert = rng.choices(range(experts), popularity[layer])[0]
                if expert not in chosen:
                    chosen.append(expert)
            for expert in chosen:
                counts[expert] += 1
            if layer > 0:
                table = pairs[layer - 1]
                for before in previous[token]:
                    for after in chosen:
                        table[(before, after)] = table.get((before, after), 0) + 1
            previous[token] = chosen

    layers = []
    for layer in range(args.layers):
        entry = {"tokens_per_expert": tokens_per_expert[layer]}
        if layer + 1 < args.layers:
            entry["pairs_with_next"] = [[i, j, n] for (i, j), n in sorted(pairs[layer].items())]
        layers.append(entry)
    source = ("make-routing-trace.py --layers %d --experts %d --top-k %d --tokens %d "
              "--topics %d --preferred %d --affinity %g --drift %g --skew %g --seed %d"
              % (args.layers, experts, k, args.tokens, args.topics, args.preferred,
                 args.affinity, args.drift, args.skew, args.seed))
    return {"format": "moe-routing-trace", "version": 1, "tokens": args.tokens,
            "top_k": k, "source": source, "layers": layers}


def write_module(args, path):
    t, h, f, e, dt = 16, args.hidden, args.intermediate, args.experts, args.dtype
    x = "tensor<%dx%dx%s>" % (t, h, dt)
    router = "tensor<%dx%dx%s>" % (e, h, dt)
    up = "tensor<%dx%dx%dx%s>" % (e, f, h, dt)
    down = "tensor<%dx%dx%dx%s>" % (e, h, f, dt)
    lines = []
    if args.ep:
        lines.append("module attributes {moe.parallel = #moe.parallel<attn = {dp = %d}, "
                     "moe = {ep = %d}>} {" % (args.ep, args.ep))
    else:
        lines.append("module {")
    # Every layer has its own expert weights (moe-place-experts gives each
    # layer its own placement).
    weights = "".join(",\n      %%gate%d: %s, %%up%d: %s, %%down%d: %s" % (l, up, l, up, l, down)
                      for l in range(args.layers))
    lines.append("  func.func @model(%%x: %s, %%router: %s%s) -> %s {" % (x, router, weights, x))
    value = "%x"
    for layer in range(args.layers):
        lines.append("    %%y%d = moe.layer %s router %%router experts gate %%gate%d up %%up%d down %%down%d"
                     % (layer, value, layer, layer, layer))
        lines.append("        routing <scoring = softmax, top_k = %d> activation silu layout out_in"
                     % args.top_k)
        lines.append("        : (%s, %s, %s, %s, %s) -> %s" % (x, router, up, up, down, x))
        value = "%%y%d" % layer
    lines.append("    return %s : %s" % (value, x))
    lines.append("  }")
    lines.append("}")
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")


def main():
    args = parse_args()
    trace = make_trace(args)
    text = json.dumps(trace, separators=(",", ":"))
    if args.output:
        with open(args.output, "w") as out:
            out.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    if args.mlir:
        write_module(args, args.mlir)


if __name__ == "__main__":
    main()
