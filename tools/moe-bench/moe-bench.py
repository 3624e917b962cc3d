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


def parse_plan(text, ranks):
    """--plan "ep=2,etp=1,edp=1" -> (etp, ep, edp) whose product is `ranks`."""
    plan = {"etp": 1, "ep": 1, "edp": 1}
    if not text:
        plan["ep"] = ranks
    else:
        for item in text.split(","):
            key, _, value = item.partition("=")
            if key.strip() not in plan or not value.strip().isdigit() or int(value) < 1:
                raise SystemExit(f"moe-bench: error: --plan: '{item}' is not etp=N, ep=N or edp=N")
            plan[key.strip()] = int(value)
    if plan["etp"] * plan["ep"] * plan["edp"] != ranks:
        raise SystemExit(f"moe-bench: error: --plan {text}: etp*ep*edp must be --ranks {ranks}")
    return plan["etp"], plan["ep"], plan["edp"]


def plan_name(plan):
    etp, ep, edp = plan
    return "x".join(f"{n}{v}" for n, v in (("ep", ep), ("etp", etp), ("edp", edp)) if v > 1) or "1"


def compile_bundle(tools, workdir, name, shape, dtype, target, plan=None):
    """The layer as a bundle; with a plan (etp, ep, edp), sharded for its ranks."""
    source = os.path.join(workdir, name + ".mlir")
    suffix = f".{plan_name(plan)}" if plan else ""
    bundle = os.path.join(workdir, f"{name}.{dtype}.{target}{suffix}.bundle")
    text = layer_mlir(*shape, dtype)
    if plan:
        etp, ep, edp = plan
        text = (f"module attributes {{moe.parallel = #moe.parallel<attn = {{tp = 1, cp = 1, "
                f"dp = {etp * ep * edp}, pp = 1}}, moe = {{etp = {etp}, ep = {ep}, edp = {edp}}}>}} {{\n"
                + text + "}\n")
    with open(source, "w") as f:
        f.write(text)
    # MOE_BUNDLE_FLAGS: extra moe-translate flags, e.g. --bundle-tensor-cores.
    extra = os.environ.get("MOE_BUNDLE_FLAGS", "").split() + (["--bundle-shard"] if plan else [])
    subprocess.run([tools["moe-translate"], "--moe-to-bundle", f"--bundle-target={target}", *extra,
                    source, "-o", bundle], check=True)
    return bundle


def time_ours(tools, bundle, repeat, device="cpu", launcher=(), env=None):
    run = subprocess.run([*launcher, tools["moe-run"], bundle, "--seed", "1", "--repeat", str(repeat),
                          "--device", device],
                         capture_output=True, text=True, env=env)
    if run.returncode:
        raise RuntimeError(f"moe-run {bundle} failed:\n" + (run.stdout + run.stderr)[-2000:])
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
# The ranges moe-run gives random inputs (tokens in [-1, 1], a weight in
# +-(last dimension)^-1/2, the bias [E] in +-E^-1/2), so that both sides route
# alike: a wider bias concentrates DeepSeek-V3's routing on fewer experts,
# and decode then reads fewer weights than our layer does.
bias = (torch.rand(E, generator=g, device=dev) * 2 - 1) * E ** -0.5
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
    # Counts by scatter_add, not bincount (which reads its maximum back to the
    # host): no synchronization, so the layer can be captured into a graph.
    offs = flat.new_zeros(E).scatter_add_(0, flat, torch.ones_like(flat)).cumsum(0).to(torch.int32)
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
def replayed(fn):
    """fn captured into a CUDA graph (as serving engines run decode steps),
    timed by replays: the launches cost the host nothing."""
    with torch.no_grad():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the default stream
            fn(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn(x)
        graph.replay()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeat):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return statistics.median(times)
def attempt(key, measure):
    try:
        result[key] = measure()
    except Exception as error:  # e.g. _grouped_mm wants bf16 and aligned shapes
        result[key] = None
        result[key + "_why"] = str(error).strip().splitlines()[0][:100] if str(error).strip() else type(error).__name__
result = {"device": torch.cuda.get_device_name(), "eager": timed(eager)}
attempt("grouped", lambda: timed(grouped))
if result["grouped"] is not None:
    result["grouped_error"] = (grouped(x) - eager(x)).abs().max().item()
    attempt("grouped_graph", lambda: replayed(grouped))
# Ours on the same tensors, through the runtime's Python bindings as a serving
# engine embeds it: device tensors in place, torch's current stream, and
# captured into a graph like the PyTorch layer above.
bundle_path, library_path, python_dir = (sys.argv[9:12] + ["", "", ""])[:3]
if bundle_path and library_path:
    def open_session():
        sys.path.insert(0, python_dir)
        import moert
        bundle = moert.Bundle.from_file(moert.Library(library_path), bundle_path)
        return moert.Session(bundle, "cuda")
    session = None
    try:
        session = open_session()
    except Exception as error:
        result["ours_why"] = str(error).strip().splitlines()[0][:100]
    if session is not None:
        ins = [x, router] + ([bias] if routing == "deepseek_v3" else []) + [w1, w3, w2]
        y = torch.empty_like(x)
        def ours(x):
            session.set_stream(torch.cuda.current_stream().cuda_stream)
            session.run(0, ins, [y])
            return y
        attempt("ours", lambda: timed(ours))
        if result["ours"] is not None:
            with torch.no_grad():
                reference = eager(x).float()
                difference = (ours(x).float() - reference).abs()
            result["ours_error"] = difference.max().item()
            result["ours_error_mean"] = difference.mean().item()
            result["reference_mean"] = reference.abs().mean().item()
            attempt("ours_graph", lambda: replayed(ours))
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


def time_torch_cuda(python, shape, dtype, repeat, bundle="", moert=("", "")):
    """The PyTorch peer, and with `bundle` and `moert` (libmoert.so, the
    directory of the `moert` Python package) ours through the bindings, on the
    same tensors in the same process."""
    t, h, f, e, k, routing = shape
    run = subprocess.run([python, "-c", TORCH_CUDA_LAYER, str(t), str(h), str(f), str(e), str(k), routing,
                          dtype, str(repeat), bundle, *moert], capture_output=True, text=True)
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
    plan = args.plan_tuple if args.ranks > 1 else None
    sharded = {name: os.path.join(args.bundle_dir, f"{name}.{dtype}.cuda.{plan_name(plan)}.bundle")
               for name in names} if plan else {}
    if not args.run_only:
        if not tools.get("moe-translate"):
            print("moe-bench: error: moe-translate not found (needed to compile; "
                  "or pass --run-only with precompiled --bundle-dir)", file=sys.stderr)
            return 1
        for name in names:
            shape = scaled(CONFIGS[name], args.scale_tokens, args.scale_width)
            compile_bundle(tools, args.bundle_dir, name, shape, dtype, "cuda")
            if plan:
                compile_bundle(tools, args.bundle_dir, name, shape, dtype, "cuda", plan)
        if args.compile_only:
            print(f"moe-bench: wrote {len(names) * (2 if plan else 1)} cuda bundles to {args.bundle_dir}")
            return 0
    if not tools.get("moe-run"):
        print("moe-bench: error: moe-run not found", file=sys.stderr)
        return 1
    if plan:
        single = {name: path for name, path in bundles.items() if os.path.exists(path)}
        return bench_cuda_ranks(args, tools, names, dtype, sharded, single)
    moert = moert_bindings(args)
    print(f"moe-bench --target cuda: DESIGN §10 shapes (T/{args.scale_tokens}, H and F/{args.scale_width}); "
          f"{dtype}; CUDA events, median of {args.repeat} after a warm-up")
    print("launched: each kernel launched by the host (ours: moe-run); graph: the whole layer captured into a "
          "CUDA graph and replayed (ours: through the Python bindings on torch's tensors)")
    header = (f"{'config':24} {'T':>5} {'H':>5} {'F':>5} {'E':>4} {'K':>2} | {'ours ms':>8} {'TFLOP/s':>7} "
              f"{'HBM%':>5} | {'eager ms':>8} {'grouped':>8} {'TFLOP/s':>7} {'HBM%':>5} | {'best/ours':>9} || "
              f"{'ours gr.':>8} {'TFLOP/s':>7} {'HBM%':>5} | {'grouped gr.':>11} {'HBM%':>5} | {'gr./ours':>8}")
    print(header)
    print("-" * len(header))
    gpu = None
    notes = []
    for name in names:
        shape = scaled(CONFIGS[name], args.scale_tokens, args.scale_width)
        t, h, f, e, k, _ = shape
        flops = 2.0 * t * k * 3 * h * f
        ours = time_ours(tools, bundles[name], args.repeat, device="cuda")
        peer = time_torch_cuda(args.python, shape, dtype, args.repeat, bundles[name] if moert else "",
                               moert or ("", ""))
        gpu = peer.get("device", gpu)
        decode = "decode" in name
        def ms(value, width):
            return f"{value:{width}.3f}" if value else f"{'n/a':>{width}}"
        def rate(value):
            return f"{flops / (value * 1e-3) / 1e12:7.2f}" if value else f"{'n/a':>7}"
        def hbm(value):
            if not decode or not value or not peer.get("copy_gbps"):
                return f"{'':>5}"
            return f"{100 * hit_bytes(t, h, f, e, k, dtype) / (value * 1e-3) / (peer['copy_gbps'] * 1e9):5.1f}"
        def ratio(peers, value):
            best = min((v for v in peers if v), default=None)
            return f"{best / value:9.3f}" if best and value else f"{'n/a':>9}"
        eager_ms, grouped_ms = peer.get("eager"), peer.get("grouped")
        graph_ms, grouped_graph_ms = peer.get("ours_graph"), peer.get("grouped_graph")
        line = (f"{name:24} {t:5d} {h:5d} {f:5d} {e:4d} {k:2d} | {ms(ours, 8)} {rate(ours)} {hbm(ours)} | "
                f"{ms(eager_ms, 8)} {ms(grouped_ms, 8)} {rate(grouped_ms)} {hbm(grouped_ms)} | "
                f"{ratio((eager_ms, grouped_ms), ours)} || {ms(graph_ms, 8)} {rate(graph_ms)} {hbm(graph_ms)} | "
                f"{ms(grouped_graph_ms, 11)} {hbm(grouped_graph_ms)} | {ratio((grouped_graph_ms,), graph_ms)[1:]}")
        print(line)
        if "error" in peer:
            print(f"  torch: {peer['error']}")
        for key, what in (("grouped_why", "torch._grouped_mm"), ("grouped_graph_why", "torch._grouped_mm graph"),
                          ("ours_why", "ours (bindings)"), ("ours_graph_why", "ours graph")):
            if peer.get(key):
                print(f"  {what}: {peer[key]}")
        if peer.get("ours") is not None:
            notes.append(f"{name}: ours through the bindings {peer['ours']:.3f} ms launched; |ours - eager| "
                         f"max {peer['ours_error']:.3g}, mean {peer['ours_error_mean']:.3g} "
                         f"(mean |eager| {peer['reference_mean']:.3g})")
    for note in notes:
        print(note)
    if gpu:
        print(f"GPU: {gpu}; HBM% = bytes of the experts hit / time / measured copy bandwidth")
    return 0


def moert_bindings(args):
    """(libmoert.so, directory of the `moert` package) for timing ours in the
    PyTorch process, or None (with a note) where either is missing."""
    here = os.path.dirname(os.path.abspath(__file__))
    library = args.moert_library or os.environ.get("MOERT_LIBRARY") or os.path.join(here, "..", "lib", "libmoert.so")
    candidates = [args.moert_python] if args.moert_python else [os.path.join(here, "..", "lib", "python"),
                                                                 os.path.join(here, "..", "..", "python")]
    python_dir = next((d for d in candidates if d and os.path.isfile(os.path.join(d, "moert", "__init__.py"))), None)
    if not os.path.isfile(library) or not python_dir:
        print(f"moe-bench: note: no graph timing of ours (libmoert.so at {library}: "
              f"{'found' if os.path.isfile(library) else 'missing'}; the moert package: "
              f"{python_dir or 'missing'}); pass --moert-library and --moert-python")
        return None
    return (os.path.abspath(library), os.path.abspath(python_dir))


# The torch.distributed peer of the all-to-alls: each rank replays, with
# all_to_all_single on uint8 buffers, the byte splits its own all_to_all_v
# calls of one run had (from our MOERT_COMM_TRACE file), timed with CUDA
# events, median of `repeat` after a warm-up. Started by the same launcher.
TORCH_ALL_TO_ALL = r"""
import json, os, statistics, sys, torch, torch.distributed as dist
trace, run, repeat, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("RANK", "0")))
size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
local = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", os.environ.get("LOCAL_RANK", "0")))
torch.cuda.set_device(local)
dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size,
                        device_id=torch.device("cuda", local))
calls = [c for c in map(json.loads, open(f"{trace}.rank{rank}.jsonl"))
         if c["run"] == run and c["collective"] == "all_to_all_v"]
total = 0.0
for c in calls:
    send = torch.empty(max(1, sum(c["send_bytes"])), dtype=torch.uint8, device="cuda")
    recv = torch.empty(max(1, sum(c["recv_bytes"])), dtype=torch.uint8, device="cuda")
    def once():
        dist.all_to_all_single(recv[:sum(c["recv_bytes"])], send[:sum(c["send_bytes"])],
                               c["recv_bytes"], c["send_bytes"])
    once()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        dist.barrier()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        once()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    total += statistics.median(times)
slowest = torch.tensor([total], device="cuda")
dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
if rank == 0:
    print(json.dumps({"ms": slowest.item(), "calls": len(calls), "nccl": ".".join(map(str, torch.cuda.nccl.version()))}))
dist.destroy_process_group()
"""


def all_to_all_stats(trace, ranks):
    """Our all_to_all_v calls from the trace files of the ranks.

    Returns a dict: calls per run, bytes a rank sends per run (the largest),
    NCCL ms per run and header-exchange ms per run (each the slowest rank's,
    median over the timed runs: run 0 is the warm-up when there are more),
    the last run's number, and rank 0's last run as (entered, enqueued, done)
    ms from the start of the run for every collective."""
    per_rank = []
    for r in range(ranks):
        runs = {}
        with open(f"{trace}.rank{r}.jsonl") as f:
            for line in f:
                c = json.loads(line)
                entry = runs.setdefault(c["run"], {"calls": 0, "sent": 0, "ms": 0.0, "header": 0.0, "timeline": []})
                entry["timeline"].append((c["collective"], c.get("entered_ms", 0.0), c.get("enqueued_ms", 0.0),
                                          c.get("done_ms", 0.0)))
                if c["collective"] != "all_to_all_v":
                    continue
                entry["calls"] += 1
                entry["sent"] += sum(c["send_bytes"])
                entry["ms"] += c["ms"]
                entry["header"] += c.get("enqueued_ms", 0.0) - c.get("entered_ms", 0.0)
        per_rank.append(runs)
    if not per_rank[0]:
        return {"calls": 0, "sent": 0, "ms": 0.0, "header": 0.0, "last": 0, "timeline": []}
    last = max(per_rank[0])
    timed = [run for run in per_rank[0] if run > 0] or list(per_rank[0])
    def slowest(key):
        return statistics.median(max(runs[run][key] for runs in per_rank if run in runs) for run in timed)
    return {"calls": per_rank[0][last]["calls"], "sent": max(runs[last]["sent"] for runs in per_rank),
            "ms": slowest("ms"), "header": slowest("header"), "last": last,
            "timeline": per_rank[0][last]["timeline"]}


def bench_cuda_ranks(args, tools, names, dtype, bundles, single):
    """--ranks N on cuda: the sharded layer on N GPUs (one process each), its
    all-to-all bandwidth, and torch.distributed's on the same split sizes."""
    launcher = args.launcher.format(ranks=args.ranks).split()
    print(f"moe-bench --target cuda --ranks {args.ranks} (plan {plan_name(args.plan_tuple)}): DESIGN §10 shapes "
          f"(T/{args.scale_tokens}, H and F/{args.scale_width}); {dtype}; median of {args.repeat}; "
          f"launcher: {' '.join(launcher)}")
    header = (f"{'config':24} | {'ours ms':>8} {'TFLOP/s':>7} | {'1 GPU ms':>8} | {'a2a/layer':>9} {'MB/rank':>8} "
              f"{'a2a ms':>7} {'busbw GB/s':>10} | {'torch a2a ms':>12} {'busbw GB/s':>10}")
    print(header)
    print("-" * len(header))
    n = args.ranks
    for name in names:
        t, h, f, e, k, _ = scaled(CONFIGS[name], args.scale_tokens, args.scale_width)
        flops = 2.0 * t * k * 3 * h * f
        with tempfile.TemporaryDirectory() as traces:
            env = dict(os.environ, NCCL_NVLS_ENABLE="0", MOERT_COMM_TRACE=os.path.join(traces, "trace"))
            try:
                ours = time_ours(tools, bundles[name], args.repeat, "cuda", launcher, env)
            except RuntimeError as error:
                print(f"{name:24} | failed: {str(error).splitlines()[-1][:120]}")
                continue
            one = time_ours(tools, single[name], args.repeat, "cuda") if single.get(name) else None
            stats = all_to_all_stats(env["MOERT_COMM_TRACE"], n)
            calls, sent, a2a_ms, last = stats["calls"], stats["sent"], stats["ms"], stats["last"]
            def busbw(nbytes, ms):
                # nccl-tests' convention: bytes a rank sends / time * (n-1)/n.
                return nbytes / (ms * 1e-3) / 1e9 * (n - 1) / n if ms else float("nan")
            peer = subprocess.run([*launcher, args.python, "-c", TORCH_ALL_TO_ALL, env["MOERT_COMM_TRACE"],
                                   str(last), str(args.repeat), str(29500 + os.getpid() % 1000)],
                                  capture_output=True, text=True, env=env)
            torch_ms = None
            if peer.returncode == 0 and peer.stdout.strip():
                torch_ms = json.loads(peer.stdout.strip().splitlines()[-1])["ms"]
            print(f"{name:24} | {ours:8.3f} {flops / (ours * 1e-3) / 1e12:7.2f} | "
                  f"{(one if one else float('nan')):8.3f} | {calls:9d} {sent / 1e6:8.2f} {a2a_ms:7.3f} "
                  f"{busbw(sent, a2a_ms):10.1f} | {(torch_ms if torch_ms else float('nan')):12.3f} "
                  f"{busbw(sent, torch_ms):10.1f}")
            if peer.returncode:
                print(f"  torch.distributed: {(peer.stderr.strip().splitlines() or ['failed'])[-1][:160]}")
            # Where rank 0's last run spent its time: each collective entered
            # (device idle), enqueued (after the header exchange), done.
            print(f"  rank 0 run {last}: header exchange {stats['header']:.3f} ms/layer (slowest rank); "
                  + "; ".join(f"{kind} {entered:.2f}/{enqueued:.2f}/{done:.2f}"
                              for kind, entered, enqueued, done in stats["timeline"]) + " ms entered/enqueued/done")
    print("ours ms: the slowest rank's median layer time (CUDA events); 1 GPU ms: the unsharded bundle on one GPU; "
          "a2a: our all_to_all_v calls of one run (enqueue to done, host clock, slowest rank), "
          "MB/rank: bytes one rank sends per layer; busbw = MB/rank / time * (n-1)/n; "
          "torch a2a: all_to_all_single with the same byte splits, CUDA events")
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
    parser.add_argument("--moert-library", default=None,
                        help="cuda: libmoert.so for timing ours in the PyTorch process, also captured into a "
                             "CUDA graph (default: $MOERT_LIBRARY, else ../lib/libmoert.so beside moe-bench)")
    parser.add_argument("--moert-python", default=None,
                        help="cuda: the directory holding the `moert` Python package (default: ../lib/python "
                             "or ../../python beside moe-bench)")
    parser.add_argument("--ranks", type=int, default=1,
                        help="cuda: shard each layer over this many GPUs, one process each (moe-shard), "
                             "and report its all-to-all bandwidth beside torch.distributed's")
    parser.add_argument("--plan", default=None,
                        help='with --ranks: the MoE plan, e.g. "ep=2" or "ep=2,etp=2" (default: ep=RANKS)')
    parser.add_argument("--launcher", default="mpirun --allow-run-as-root --oversubscribe -np {ranks}",
                        help="with --ranks: the command that starts the ranks ({ranks} is replaced)")
    args = parser.parse_args()
    if args.ranks < 1:
        print("moe-bench: error: --ranks must be at least 1", file=sys.stderr)
        return 1
    if args.ranks > 1 and args.target != "cuda":
        print("moe-bench: error: --ranks is for --target cuda (CPU ranks: mpirun moe-run, docs/multi-rank.md)",
              file=sys.stderr)
        return 1
    args.plan_tuple = parse_plan(args.plan, args.ranks)
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
