#!/usr/bin/env python3
"""moe-bench: times compiled MoE layers and the same layers in PyTorch, in one run.

For each configuration of DESIGN §10 (scaled down on CPU), it writes the layer in
the moe dialect, compiles it to a bundle (moe-translate --moe-to-bundle), times it
with moe-run (median of --repeat runs, random weights from a seed), then times the
same layer in PyTorch eager (a loop over experts, as Hugging Face's MoE blocks do)
on the same machine, and prints both with GFLOP/s (routed experts: 2*T*K*3*H*F).

--target cuda (full DESIGN §10 shapes, bf16 by default): our bundle through
`moe-run --device cuda` (CUDA events), PyTorch eager and PyTorch
`torch._grouped_mm` (same routing, permutation and combine) on the same GPU in
the same run, with TFLOP/s and, for decode, the fraction of the HBM roofline
(bytes of the experts hit, E*(1-(1-K/E)^T)*3*H*F*bytes, over the measured
device-to-device copy bandwidth). The compiler and the GPU may live on two
machines: `--compile-only --bundle-dir D` writes the bundles where MLIR is,
`--bundle-dir D` alone runs them where the GPU is.
"""

import argparse
import json
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


def compile_bundle(tools, workdir, name, shape, dtype, target):
    source = os.path.join(workdir, name + ".mlir")
    bundle = os.path.join(workdir, f"{name}.{dtype}.{target}.bundle")
    with open(source, "w") as f:
        f.write(layer_mlir(*shape, dtype))
    # MOE_BUNDLE_FLAGS: extra moe-translate flags, e.g. --bundle-tensor-cores.
    extra = os.environ.get("MOE_BUNDLE_FLAGS", "").split()
    subprocess.run([tools["moe-translate"], "--moe-to-bundle", f"--bundle-target={target}", *extra,
                    source, "-o", bundle], check=True)
    return bundle


def time_ours(tools, bundle, repeat, device="cpu"):
    run = subprocess.run([tools["moe-run"], bundle, "--seed", "1", "--repeat", str(repeat),
                          "--device", device],
                         check=True, capture_output=True, text=True)
    match = re.search(r"time\s+median ([0-9.]+) ms", run.stdout)
    if not match:
        raise RuntimeError("moe-run printed no time:\n" + run.stdout)
    return float(match.group(1))


# The PyTorch peer: the same layer as the bundle (same shapes, softmax or
# DeepSeek-V3 routing, SwiGLU experts, out_in weights), written once; DEVICE is
# substituted before it runs.
TORCH_COMMON = r'''
import json, statistics, sys, time, torch
T, H, F, E, K, routing, dtype, repeat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], int(sys.argv[8])
dev = torch.device("DEVICE")
dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype]
g = torch.Generator(device=dev).manual_seed(1)
def rand(*shape, scale):
    return ((torch.rand(*shape, generator=g, device=dev) * 2 - 1) * scale).to(dt)
x = rand(T, H, scale=1.0)
router = rand(E, H, scale=H ** -0.5)
bias = torch.rand(E, generator=g, device=dev) * 0.2 - 0.1
w1, w3, w2 = rand(E, F, H, scale=H ** -0.5), rand(E, F, H, scale=H ** -0.5), rand(E, H, F, scale=F ** -0.5)
def route(x):
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
    return w.to(dt), idx
def eager(x):
    w, idx = route(x)
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
'''

TORCH_LAYER = TORCH_COMMON.replace("DEVICE", "cpu") + r'''
with torch.no_grad():
    eager(x)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        eager(x)
        times.append((time.perf_counter() - start) * 1e3)
print(statistics.median(times), torch.get_num_threads())
'''

TORCH_CUDA_LAYER = TORCH_COMMON.replace("DEVICE", "cuda") + r'''
w13 = torch.cat([w1, w3], dim=1).transpose(1, 2)   # [E, H, 2F], a view of [E, 2F, H]
w2t = w2.transpose(1, 2)                           # [E, F, H]
def grouped(x):
    w, idx = route(x)
    flat = idx.flatten()
    order = flat.argsort(stable=True)
    tok = order // K
    offs = torch.bincount(flat, minlength=E).cumsum(0).to(torch.int32)
    gu = torch._grouped_mm(x[tok], w13, offs=offs)
    h = torch.nn.functional.silu(gu[:, :F]) * gu[:, F:]
    y = torch._grouped_mm(h, w2t, offs=offs)
    out = torch.zeros_like(x)
    out.index_add_(0, tok, y * w.flatten()[order, None])
    return out
def timed(fn):
    with torch.no_grad():
        fn(x)
        torch.cuda.synchronize()
        times = []
        for _ in range(repeat):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn(x)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return statistics.median(times)
result = {"device": torch.cuda.get_device_name(), "eager": timed(eager)}
try:
    result["grouped"] = timed(grouped)
    result["grouped_error"] = (grouped(x) - eager(x)).abs().max().item()
except Exception as error:  # _grouped_mm wants bf16 and aligned shapes
    result["grouped"] = None
    result["grouped_why"] = str(error).splitlines()[0][:80]
# Device-to-device copy bandwidth (bytes read + written), the HBM ceiling.
src = torch.empty(1 << 30, dtype=torch.uint8, device=dev).random_()
dst = torch.empty_like(src)
dst.copy_(src)
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
start.record()
for _ in range(10):
    dst.copy_(src)
end.record()
end.synchronize()
result["copy_gbps"] = 2 * 10 * src.numel() / (start.elapsed_time(end) * 1e-3) / 1e9
print(json.dumps(result))
'''


def time_torch_cuda(python, shape, dtype, repeat):
    t, h, f, e, k, routing = shape
    run = subprocess.run([python, "-c", TORCH_CUDA_LAYER, str(t), str(h), str(f), str(e), str(k), routing,
                          dtype, str(repeat)], capture_output=True, text=True)
    if run.returncode:
        return {"error": run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"}
    return json.loads(run.stdout.strip().splitlines()[-1])


def hit_bytes(t, h, f, e, k, dtype):
    """Bytes of the experts a decode step reads (DESIGN §10)."""
    return e * (1 - (1 - k / e) ** t) * 3 * h * f * (2 if dtype == "bf16" else 4)


def bench_cuda(args, tools):
    """--target cuda: compile and/or run; prints the table."""
    dtype = args.dtype or "bf16"
    names = args.config or list(CONFIGS)
    os.makedirs(args.bundle_dir, exist_ok=True)
    bundles = {name: os.path.join(args.bundle_dir, f"{name}.{dtype}.cuda.bundle") for name in names}
    if not args.run_only:
        if not tools.get("moe-translate"):
            print("moe-bench: error: moe-translate not found (needed to compile; "
                  "or pass --run-only with precompiled --bundle-dir)", file=sys.stderr)
            return 1
        for name in names:
            compile_bundle(tools, args.bundle_dir, name,
                           scaled(CONFIGS[name], args.scale_tokens, args.scale_width), dtype, "cuda")
        if args.compile_only:
            print(f"moe-bench: wrote {len(names)} cuda bundles to {args.bundle_dir}")
            return 0
    if not tools.get("moe-run"):
        print("moe-bench: error: moe-run not found", file=sys.stderr)
        return 1
    print(f"moe-bench --target cuda: DESIGN §10 shapes (T/{args.scale_tokens}, H and F/{args.scale_width}); "
          f"{dtype}; CUDA events, median of {args.repeat} after a warm-up")
    header = (f"{'config':24} {'T':>5} {'H':>5} {'F':>5} {'E':>4} {'K':>2} | {'ours ms':>9} {'TFLOP/s':>7} "
              f"{'HBM%':>5} | {'eager ms':>9} {'TFLOP/s':>7} | {'grouped ms':>10} {'TFLOP/s':>7} {'HBM%':>5} | "
              f"{'best/ours':>9}")
    print(header)
    print("-" * len(header))
    gpu = None
    for name in names:
        shape = scaled(CONFIGS[name], args.scale_tokens, args.scale_width)
        t, h, f, e, k, _ = shape
        flops = 2.0 * t * k * 3 * h * f
        ours = time_ours(tools, bundles[name], args.repeat, device="cuda")
        peer = time_torch_cuda(args.python, shape, dtype, args.repeat)
        gpu = peer.get("device", gpu)
        decode = "decode" in name
        def rate(ms):
            return f"{flops / (ms * 1e-3) / 1e12:7.2f}" if ms else f"{'n/a':>7}"
        def hbm(ms):
            if not decode or not ms or not peer.get("copy_gbps"):
                return f"{'':>5}"
            return f"{100 * hit_bytes(t, h, f, e, k, dtype) / (ms * 1e-3) / (peer['copy_gbps'] * 1e9):5.1f}"
        eager_ms, grouped_ms = peer.get("eager"), peer.get("grouped")
        best = min(v for v in (eager_ms, grouped_ms) if v) if (eager_ms or grouped_ms) else None
        line = (f"{name:24} {t:5d} {h:5d} {f:5d} {e:4d} {k:2d} | {ours:9.3f} {rate(ours)} {hbm(ours)} | "
                f"{(eager_ms or float('nan')):9.3f} {rate(eager_ms)} | {(grouped_ms or float('nan')):10.3f} "
                f"{rate(grouped_ms)} {hbm(grouped_ms)} | {(best / ours if best else float('nan')):9.3f}")
        print(line)
        if "error" in peer:
            print(f"  torch: {peer['error']}")
        if peer.get("grouped_why"):
            print(f"  torch._grouped_mm: {peer['grouped_why']}")
    if gpu:
        print(f"GPU: {gpu}; HBM% = bytes of the experts hit / time / measured copy bandwidth")
    return 0


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
    parser.add_argument("--target", "--device", dest="target", default="cpu", choices=["cpu", "cuda"],
                        help="where the layers run (--device is the same option)")
    parser.add_argument("--config", action="append", choices=list(CONFIGS),
                        help="configurations to run (default: all)")
    parser.add_argument("--scale-tokens", type=int, default=None,
                        help="divide T by this (default 16 on cpu, 1 on cuda)")
    parser.add_argument("--scale-width", type=int, default=None,
                        help="divide H and F by this (default 16 on cpu, 1 on cuda)")
    parser.add_argument("--dtype", default=None, choices=["f32", "bf16"],
                        help="element type (default f32 on cpu, bf16 on cuda)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", default=None,
                        help="Python with torch for the peer (default /usr/bin/python3 on cpu, python3 on cuda)")
    parser.add_argument("--bundle-dir", default=None,
                        help="cuda: where the bundles are written / read (default: a temporary folder)")
    parser.add_argument("--compile-only", action="store_true", help="cuda: only write the bundles")
    parser.add_argument("--run-only", action="store_true",
                        help="cuda: only run bundles found in --bundle-dir (the GPU machine has no MLIR)")
    args = parser.parse_args()
    cuda = args.target == "cuda"
    if args.scale_tokens is None:
        args.scale_tokens = 1 if cuda else 16
    if args.scale_width is None:
        args.scale_width = 1 if cuda else 16
    if args.python is None:
        args.python = "python3" if cuda else "/usr/bin/python3"
    if (args.compile_only or args.run_only) and not cuda:
        print("moe-bench: error: --compile-only/--run-only are for --target cuda", file=sys.stderr)
        return 1
    if args.compile_only and args.run_only:
        print("moe-bench: error: --compile-only and --run-only exclude each other", file=sys.stderr)
        return 1
    if (args.compile_only or args.run_only) and not args.bundle_dir:
        print("moe-bench: error: --compile-only/--run-only need --bundle-dir", file=sys.stderr)
        return 1
    here = os.path.dirname(os.path.abspath(__file__))
    tools = {}
    for tool in ("moe-translate", "moe-run"):
        path = os.path.join(here, tool)
        tools[tool] = path if os.path.exists(path) else shutil.which(tool)
    if cuda:
        if args.bundle_dir:
            return bench_cuda(args, tools)
        with tempfile.TemporaryDirectory() as workdir:
            args.bundle_dir = workdir
            return bench_cuda(args, tools)
    args.dtype = args.dtype or "f32"
    for tool in ("moe-translate", "moe-run"):
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
            ours = time_ours(tools, compile_bundle(tools, workdir, name, shape, args.dtype, "cpu"),
                             args.repeat)
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
