#!/usr/bin/env python3
"""moe-bench: times compiled MoE layers and the same layers in PyTorch, in one run.

For each configuration of DESIGN §10 (scaled down on CPU), it writes the layer in
the moe dialect, compiles it to a bundle (moe-translate --moe-to-bundle), times it
with moe-run (median of --repeat runs, random weights from a seed), then times the
same layer in PyTorch eager (a loop over experts, as Hugging Face's MoE blocks do)
on the same machine, and prints both with GFLOP/s (routed experts: 2*T*K*3*H*F).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# name: (T, H, F, E, K, routing) at full size (DESIGN §10).
CONFIGS = {
    "mixtral-prefill": (4096, 4096, 14336, 8, 2, "mixtral"),
    "mixtral-decode": (16, 4096, 14336, 8, 2, "mixtral"),
    "qwen3-30b-a3b-prefill": (8192, 2048, 768, 128, 8, "qwen3"),
    "qwen3-30b-a3b-decode": (64, 2048, 768, 128, 8, "qwen3"),
    "deepseek-v3-prefill": (4096, 7168, 2048, 256, 8, "deepseek_v3"),
    "deepseek-v3-decode": (128, 7168, 2048, 256, 8, "deepseek_v3"),
}

ROUTING = {
    "mixtral": "<scoring = softmax, top_k = {k}, renormalize = true>",
    "qwen3": "<scoring = softmax, top_k = {k}, renormalize = true>",
    "deepseek_v3": "<scoring = sigmoid, top_k = {k}, renormalize = true, scaling_factor = 2.5, "
                   "num_groups = 8, kept_groups = 4>",
}


def scaled(config, divisor_tokens, divisor_width):
    t, h, f, e, k, routing = config
    return max(1, t // divisor_tokens), max(8, h // divisor_width), max(8, f // divisor_width), e, k, routing


def layer_mlir(t, h, f, e, k, routing, dtype):
    def ty(*shape):
        return "tensor<" + "x".join(map(str, shape)) + "x" + dtype + ">"
    bias = routing == "deepseek_v3"
    args = [f"%x: {ty(t, h)} {{moe.input = \"hidden_states\"}}",
            f"%router: {ty(e, h)} {{moe.input = \"router\"}}"]
    types = [ty(t, h), ty(e, h)]
    if bias:
        args.append('%bias: tensor<{}xf32> {{moe.input = "bias"}}'.format(e))
        types.append(f"tensor<{e}xf32>")
    for name, shape in (("gate", (e, f, h)), ("up", (e, f, h)), ("down", (e, h, f))):
        args.append(f"%{name}: {ty(*shape)} {{moe.input = \"{name}\"}}")
        types.append(ty(*shape))
    return f"""func.func @layer({", ".join(args)}) -> {ty(t, h)} {{
  %y = moe.layer %x router %router{" bias %bias" if bias else ""} experts gate %gate up %up down %down
      routing {ROUTING[routing].format(k=k)} activation silu layout out_in
      : ({", ".join(types)}) -> {ty(t, h)}
  return %y : {ty(t, h)}
}}
"""


def time_ours(tools, workdir, name, shape, dtype, repeat):
    source = os.path.join(workdir, name + ".mlir")
    bundle = os.path.join(workdir, name + ".bundle")
    with open(source, "w") as f:
        f.write(layer_mlir(*shape, dtype))
    subprocess.run([tools["moe-translate"], "--moe-to-bundle", source, "-o", bundle], check=True)
    run = subprocess.run([tools["moe-run"], bundle, "--seed", "1", "--repeat", str(repeat)],
                         check=True, capture_output=True, text=True)
    match = re.search(r"time\s+median ([0-9.]+) ms", run.stdout)
    if not match:
        raise RuntimeError("moe-run printed no time:\n" + run.stdout)
    return float(match.group(1))


TORCH_LAYER = r'''
import statistics, sys, time, torch
T, H, F, E, K, routing, dtype, repeat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], int(sys.argv[8])
dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype]
g = torch.Generator().manual_seed(1)
def rand(*shape, scale):
    return ((torch.rand(*shape, generator=g) * 2 - 1) * scale).to(dt)
x = rand(T, H, scale=1.0)
router = rand(E, H, scale=H ** -0.5)
bias = (torch.rand(E, generator=g) * 0.2 - 0.1)
w1, w3, w2 = rand(E, F, H, scale=H ** -0.5), rand(E, F, H, scale=H ** -0.5), rand(E, H, F, scale=F ** -0.5)
def layer(x):
    logits = (x @ router.t()).float()
    if routing == "deepseek_v3":
        s = logits.sigmoid()
        sel = (s + bias).view(T, 8, E // 8)
        group = sel.topk(2, dim=-1).values.sum(-1)
        keep = torch.zeros_like(group).scatter_(1, group.topk(4, dim=-1).indices, 1.0)
        sel = sel.masked_fill(keep.unsqueeze(-1) == 0, float("-inf")).view(T, E)
        idx = sel.topk(K, dim=-1).indices
        w = s.gather(1, idx)
        w = w / w.sum(-1, keepdim=True) * 2.5
    else:
        s = logits.softmax(-1)
        w, idx = s.topk(K, dim=-1)
        w = w / w.sum(-1, keepdim=True)
    w = w.to(dt)
    out = torch.zeros_like(x)
    hit = torch.nn.functional.one_hot(idx, E).permute(2, 1, 0)
    for e in range(E):
        slot, tok = torch.where(hit[e])
        if tok.numel() == 0:
            continue
        h = x[tok]
        y = (torch.nn.functional.silu(h @ w1[e].t()) * (h @ w3[e].t())) @ w2[e].t()
        out.index_add_(0, tok, y * w[tok, slot, None])
    return out
with torch.no_grad():
    layer(x)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        layer(x)
        times.append((time.perf_counter() - start) * 1e3)
print(statistics.median(times), torch.get_num_threads())
'''


def time_torch(python, shape, dtype, repeat):
    t, h, f, e, k, routing = shape
    run = subprocess.run([python, "-c", TORCH_LAYER, str(t), str(h), str(f), str(e), str(k), routing,
                          dtype, str(repeat)], capture_output=True, text=True)
    if run.returncode:
        return None, run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"
    median, threads = run.stdout.split()
    return float(median), int(threads)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--config", action="append", choices=list(CONFIGS),
                        help="configurations to run (default: all)")
    parser.add_argument("--scale-tokens", type=int, default=16, help="divide T by this on CPU")
    parser.add_argument("--scale-width", type=int, default=16, help="divide H and F by this on CPU")
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", default="/usr/bin/python3", help="Python with torch for the peer")
    args = parser.parse_args()
    if args.target != "cpu":
        print("moe-bench: error: the CUDA target is not built yet; use --target cpu", file=sys.stderr)
        return 1
    here = os.path.dirname(os.path.abspath(__file__))
    tools = {}
    for tool in ("moe-translate", "moe-run"):
        path = os.path.join(here, tool)
        tools[tool] = path if os.path.exists(path) else shutil.which(tool)
        if not tools[tool]:
            print(f"moe-bench: error: {tool} not found beside moe-bench or on PATH", file=sys.stderr)
            return 1
    print(f"moe-bench --target cpu: shapes are DESIGN §10 with T/{args.scale_tokens}, H and F/{args.scale_width}; "
          f"{args.dtype}; median of {args.repeat}")
    header = f"{'config':24} {'T':>5} {'H':>5} {'F':>5} {'E':>4} {'K':>2} | {'ours ms':>9} {'GFLOP/s':>8} | {'torch ms':>9} {'GFLOP/s':>8} {'thr':>3} | {'torch/ours':>10}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.config or list(CONFIGS):
            shape = scaled(CONFIGS[name], args.scale_tokens, args.scale_width)
            t, h, f, e, k, _ = shape
            flops = 2.0 * t * k * 3 * h * f
            ours = time_ours(tools, workdir, name, shape, args.dtype, args.repeat)
            torch_ms, threads = time_torch(args.python, shape, args.dtype, args.repeat)
            ours_rate = flops / (ours * 1e-3) / 1e9
            if torch_ms is None:
                peer = f"{'n/a':>9} {'':>8} {'':>3} | {'(' + str(threads) + ')':>10}"
            else:
                peer = (f"{torch_ms:9.3f} {flops / (torch_ms * 1e-3) / 1e9:8.2f} {threads:3d} | "
                        f"{torch_ms / ours:10.3f}")
            print(f"{name:24} {t:5d} {h:5d} {f:5d} {e:4d} {k:2d} | {ours:9.3f} {ours_rate:8.2f} | {peer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
