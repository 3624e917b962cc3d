#!/usr/bin/env python3
"""Checks compiled MoE layers against Hugging Face transformers' own MoE blocks.

For every case of CASES/cases.json (written by scripts/gpu/prepare-hf-check.sh):
builds the transformers block from the model's config.json (MixtralSparseMoeBlock,
Qwen3MoeSparseMoeBlock, Qwen2MoeSparseMoeBlock, DeepseekV3MoE; the sizes of the
compiled layer), fills it with seeded random weights (normal(0, 0.02); DeepSeek's
e_score_correction_bias normal(0, 0.05)), maps its parameters to the layer's
arguments by name (fused `gate_up_proj`/`down_proj` experts or a ModuleList, found
at run time), and runs both on the same hidden states [1, T, H] ~ N(0, 1). Ours
runs through the runtime's C API (python/moert) on the same torch tensors,
zero-copy through DLPack, on torch's current stream.

Verdicts (DESIGN §9), with ref = the HF block evaluated in fp64 on the same
(dtype-rounded) weights and inputs:
  f32:  max|ours - hf| <= 1e-4 * max(1, max|hf|)
  bf16: relL2(ours, ref) <= 2 * relL2(hf, ref) + 1e-3
and in both: every output element written (the output is poisoned with NaN
first), finite, and a second run bit-identical to the first. Also printed:
map_err, relL2 of a plain-torch evaluation of the layer's own semantics
(DESIGN §8, the routing attribute of the compiled layer) on the mapped fp64
arguments against ref: ~1e-15 says the mapping and the semantics agree with
transformers, whatever ours does.

One line per case as it finishes, a summary table last; --results writes JSON.
Exit: 0 all PASS, 1 a FAIL, 2 cases left unrun (--budget-s), 77 skipped (no
torch, no transformers, no GPU).
Usage: check_hf.py [--cases DIR] [--moert libmoert.so] [--device cuda|cpu]
"""

import argparse
import copy
import importlib
import inspect
import json
import math
import os
import re
import sys
import time
import traceback

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# family -> (module of transformers, class of the MoE block)
HF_BLOCKS = {
    "mixtral": ("transformers.models.mixtral.modeling_mixtral", "MixtralSparseMoeBlock"),
    "qwen3_moe": ("transformers.models.qwen3_moe.modeling_qwen3_moe", "Qwen3MoeSparseMoeBlock"),
    "qwen2_moe": ("transformers.models.qwen2_moe.modeling_qwen2_moe", "Qwen2MoeSparseMoeBlock"),
    "deepseek_v3": ("transformers.models.deepseek_v3.modeling_deepseek_v3", "DeepseekV3MoE"),
}
# Cheapest first, so that a tight budget still covers most families.
FAMILY_ORDER = ["qwen3_moe", "qwen2_moe", "mixtral", "deepseek_v3"]
# Config keys that only from_pretrained uses (DeepSeek-V3's fp8 checkpoint).
DROPPED_CONFIG_KEYS = ["quantization_config", "auto_map"]
# The expert projections of a checkpoint name, by role.
PROJECTIONS = {"w1": "gate", "gate_proj": "gate", "w3": "up", "up_proj": "up",
               "w2": "down", "down_proj": "down"}
ALIASES = {"gate": ["w1", "gate_proj"], "up": ["w3", "up_proj"],
           "down": ["w2", "down_proj"]}


def log(*parts):
    print(*parts, flush=True)


class MappingError(RuntimeError):
    pass


# ----------------------------------------------------------------------------
# The transformers block
# ----------------------------------------------------------------------------

def hf_config(case):
    """The transformers config of the case: the model's config.json with the
    compiled layer's sizes, eager experts."""
    import transformers
    with open(os.path.join(ROOT, case["config"])) as f:
        values = json.load(f)
    dropped = [k for k in DROPPED_CONFIG_KEYS if values.pop(k, None) is not None]
    values.update(case["hf_overrides"])
    model_type = values.pop("model_type")
    try:
        config = transformers.AutoConfig.for_model(model_type, **values)
    except AttributeError:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING
        config = CONFIG_MAPPING[model_type](**values)
    # The reference is the eager expert loop (transformers 5 may pick grouped
    # GEMMs otherwise, which have no fp64).
    for attribute in ("_experts_implementation", "experts_implementation"):
        try:
            setattr(config, attribute, "eager")
        except Exception:
            pass
    return config, dropped


def construct(cls, config, device):
    parameters = inspect.signature(cls.__init__).parameters
    kwargs = {}
    if "layer_idx" in parameters:
        kwargs["layer_idx"] = 0
    import torch
    if device != "cpu" and hasattr(torch.device(device), "__enter__"):
        with torch.device(device):
            return cls(config, **kwargs)
    return cls(config, **kwargs).to(device)


def hf_tensors(block):
    tensors = dict(block.named_parameters())
    tensors.update(dict(block.named_buffers()))
    return tensors


def describe_block(block, family, config, dropped):
    """Facts about the transformers block, printed once per family."""
    import transformers
    cls = type(block)
    lines = [f"[facts] {family}: transformers {transformers.__version__}, "
             f"{cls.__module__}.{cls.__name__}{inspect.signature(cls.__init__)}",
             f"[facts]   forward{inspect.signature(cls.forward)}"]
    experts = getattr(block, "experts", None)
    if experts is not None:
        flags = {k: getattr(experts, k) for k in
                 ("is_transposed", "is_concatenated", "has_gate", "has_bias")
                 if hasattr(experts, k)}
        implementation = getattr(getattr(experts, "config", config),
                                 "_experts_implementation", None)
        lines.append(f"[facts]   experts: {type(experts).__name__} {flags} "
                     f"_experts_implementation={implementation!r}")
    for name, t in hf_tensors(block).items():
        if re.match(r"experts\.([1-9]\d*)\.", name):
            continue  # ModuleList experts: the first one stands for all
        kind = "buffer" if name in dict(block.named_buffers()) else "param"
        lines.append(f"[facts]   {kind} {name} {list(t.shape)} {str(t.dtype).replace('torch.', '')}")
    if dropped:
        lines.append(f"[facts]   config keys dropped: {', '.join(dropped)}")
    log("\n".join(lines))


def init_weights(block, seed):
    """normal(0, 0.02) for every float parameter, normal(0, 0.05) for the
    selection bias, in name order from one seeded generator; the bias rounded
    to bf16 so that the f32 bias we pass equals what a bf16 block holds."""
    import torch
    device = next(block.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    with torch.no_grad():
        for name, t in sorted(hf_tensors(block).items()):
            if not t.is_floating_point():
                continue
            if name.endswith("e_score_correction_bias"):
                t.normal_(0.0, 0.05, generator=generator)
                t.copy_(t.to(torch.bfloat16).to(t.dtype))
            else:
                t.normal_(0.0, 0.02, generator=generator)


def hf_forward(block, hidden):
    """The block on hidden [1, T, H] -> [T, H] (tuple results: the first)."""
    out = block(hidden)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.reshape(hidden.shape[1], hidden.shape[2])


# ----------------------------------------------------------------------------
# Mapping the block's parameters to the layer's arguments
# ----------------------------------------------------------------------------

def local_name(argument):
    """'model.layers.3.mlp.gate.weight' -> 'gate.weight'."""
    m = re.fullmatch(r"model\.layers\.\d+\.(?:mlp|block_sparse_moe)\.(.+)", argument)
    if not m:
        raise MappingError(f"argument {argument!r} is not a layer tensor")
    return m.group(1)


def orient(t, want, transposed, what):
    """t as `want` ([E, out, in]); [E, in, out] storage is transposed."""
    shape = tuple(t.shape)
    swapped = (want[0], want[2], want[1])
    if shape == want and not (transposed and want[1] == want[2]):
        return t
    if shape == swapped:
        return t.transpose(1, 2)
    raise MappingError(f"{what}: shape {list(shape)}, expected {list(want)}")


def expert_tensor(tensors, used, block, role, want):
    E = want[0]
    experts = getattr(block, "experts", None)
    transposed = bool(getattr(experts, "is_transposed", False))
    # A ModuleList of per-expert MLPs (transformers 4.x).
    for alias in ALIASES[role]:
        if f"experts.0.{alias}.weight" in tensors:
            names = [f"experts.{e}.{alias}.weight" for e in range(E)]
            missing = [n for n in names if n not in tensors]
            if missing:
                raise MappingError(f"no {missing[0]} (expected {E} experts)")
            used.update(names)
            import torch
            return torch.stack([tensors[n] for n in names])
    # One 3-D tensor per projection.
    for alias in ALIASES[role]:
        name = f"experts.{alias}"
        if name in tensors and tensors[name].dim() == 3 and not (
                alias == "down_proj" and role != "down"):
            used.add(name)
            return orient(tensors[name], want, transposed, name)
    # gate and up fused (transformers 5.x): [E, 2F, H], gate first.
    if role in ("gate", "up") and "experts.gate_up_proj" in tensors:
        if getattr(experts, "is_concatenated", True) is False:
            raise MappingError("experts.gate_up_proj is interleaved "
                               "(is_concatenated=False): not mapped")
        used.add("experts.gate_up_proj")
        fused = tensors["experts.gate_up_proj"]
        F = want[1]
        if tuple(fused.shape) == (E, 2 * F, want[2]) and not transposed:
            return fused[:, :F] if role == "gate" else fused[:, F:]
        if tuple(fused.shape) == (E, want[2], 2 * F):
            half = fused[:, :, :F] if role == "gate" else fused[:, :, F:]
            return half.transpose(1, 2)
        raise MappingError(f"experts.gate_up_proj: shape {list(fused.shape)}, "
                           f"expected [{E}, {2 * F}, {want[2]}]")
    raise MappingError(f"no {role} projection among the block's tensors "
                       f"({', '.join(sorted(tensors))})")


def map_arguments(block, case):
    """{argument name: tensor view of the block} for every argument but the
    hidden states, and the block's float tensors that no argument uses."""
    tensors = hf_tensors(block)
    used, mapped = set(), {}
    for entry in case["inputs"][1:]:
        name, want = entry["name"], tuple(entry["shape"])
        local = local_name(name)
        m = re.fullmatch(r"experts\.\{expert\}\.(\w+)\.weight", local)
        if m:
            role = PROJECTIONS.get(m.group(1))
            if role is None:
                raise MappingError(f"unknown expert projection in {name!r}")
            t = expert_tensor(tensors, used, block, role, want)
        else:
            t = tensors.get(local)
            if t is None:
                raise MappingError(f"the block has no {local!r} (for {name!r})")
            used.add(local)
            if tuple(t.shape) != want:
                if t.numel() != math.prod(want):
                    raise MappingError(f"{local}: shape {list(t.shape)}, expected {list(want)}")
                t = t.reshape(want)  # nn.Linear(H, 1) [1, H] -> [H]
        if tuple(t.shape) != want:
            raise MappingError(f"{name}: mapped shape {list(t.shape)}, expected {list(want)}")
        mapped[name] = t
    unused = sorted(n for n, t in tensors.items()
                    if n not in used and t.is_floating_point())
    return mapped, unused


# ----------------------------------------------------------------------------
# The layer's semantics in plain torch (DESIGN §8), for the mapping check
# ----------------------------------------------------------------------------

def spec_layer(case, args, x):
    """The compiled layer's semantics on x [T, H] with `args` (name -> tensor),
    in the tensors' dtype (fp64 here)."""
    import torch
    import torch.nn.functional as F
    routing = case["routing"]
    by_role = {}
    for entry in case["inputs"][1:]:
        local = local_name(entry["name"])
        m = re.fullmatch(r"experts\.\{expert\}\.(\w+)\.weight", local)
        if m:
            by_role[PROJECTIONS[m.group(1)]] = args[entry["name"]]
        elif local == "gate.weight":
            by_role["router"] = args[entry["name"]]
        elif local.endswith("e_score_correction_bias"):
            by_role["bias"] = args[entry["name"]]
        elif local == "shared_expert_gate.weight":
            by_role["shared_sigmoid"] = args[entry["name"]]
        elif re.fullmatch(r"shared_experts?\.(gate|up|down)_proj\.weight", local):
            by_role["shared_" + local.split(".")[1][:-5]] = args[entry["name"]]
    act = {"silu": F.silu, "gelu": F.gelu, "relu": F.relu}[case["activation"]]
    logits = x @ by_role["router"].to(x.dtype).T
    scores = torch.sigmoid(logits) if routing.get("scoring") == "sigmoid" else torch.softmax(logits, -1)
    choice = scores + by_role["bias"].to(x.dtype) if "bias" in by_role else scores
    T, E = scores.shape
    groups = int(routing.get("num_groups", 1))
    if groups > 1:
        grouped = choice.view(T, groups, E // groups)
        if routing.get("group_score", "top2_sum") == "max":
            group_scores = grouped.max(-1).values
        else:
            group_scores = grouped.topk(2, -1).values.sum(-1)
        kept = group_scores.topk(int(routing["kept_groups"]), -1).indices
        mask = torch.zeros(T, groups, dtype=torch.bool, device=x.device)
        mask.scatter_(1, kept, True)
        mask = mask.unsqueeze(-1).expand(T, groups, E // groups).reshape(T, E)
        choice = choice.masked_fill(~mask, float("-inf"))
    top = choice.topk(int(routing["top_k"]), -1).indices
    weights = scores.gather(1, top)
    if routing.get("renormalize"):
        weights = weights / weights.sum(-1, keepdim=True)
    weights = weights * float(routing.get("scaling_factor", 1.0))
    out = torch.zeros_like(x)
    for e in range(E):
        token, slot = torch.where(top == e)
        if token.numel():
            h = x[token]
            y = (act(h @ by_role["gate"][e].T) * (h @ by_role["up"][e].T)) @ by_role["down"][e].T
            out.index_add_(0, token, y * weights[token, slot, None])
    if "shared_gate" in by_role:
        shared = (act(x @ by_role["shared_gate"].T) * (x @ by_role["shared_up"].T)) @ by_role["shared_down"].T
        if "shared_sigmoid" in by_role:
            shared = shared * torch.sigmoid(x @ by_role["shared_sigmoid"].to(x.dtype))[:, None]
        out = out + shared
    return out


# ----------------------------------------------------------------------------
# Running, measuring, judging
# ----------------------------------------------------------------------------

def rel_l2(a, b):
    a, b = a.double(), b.double()
    denominator = b.norm().item()
    return (a - b).norm().item() / (denominator if denominator else 1.0)


def timed(device, fn):
    """(result, milliseconds) of fn(): CUDA events on the current stream."""
    import torch
    if device == "cpu":
        start = time.perf_counter()
        result = fn()
        return result, (time.perf_counter() - start) * 1e3
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    result = fn()
    end.record()
    end.synchronize()
    return result, begin.elapsed_time(end)


def run_case(case, block, ref_block, args, ref_args, moert, cases_dir, device,
             seed, repeat):
    """One case; returns its result dict."""
    import torch
    dtype = {"bf16": torch.bfloat16, "f32": torch.float32}[case["dtype"]]
    T, H = case["tokens"], case["hidden"]
    result = {"name": case["name"], "family": case["family"], "dtype": case["dtype"],
              "tokens": T}
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 1000 + T)
    hidden = torch.randn(1, T, H, generator=generator, device=device).to(dtype)
    hidden64 = hidden.double()

    with torch.no_grad():
        hf = hf_forward(block, hidden)
        _, hf_ms = timed(device, lambda: hf_forward(block, hidden))
        ref = hf_forward(ref_block, hidden64)
        spec = spec_layer(case, ref_args, hidden64.reshape(T, H))

    # Ours: the same tensors; weights that are views of fused storage (or the
    # f32 selection bias of a bf16 block) as compact copies.
    inputs = [hidden.reshape(T, H)]
    for entry in case["inputs"][1:]:
        t = args[entry["name"]]
        want = {"bf16": torch.bfloat16, "f32": torch.float32}[entry["dtype"]]
        if t.dtype != want:
            t = t.to(want)
        inputs.append(t if t.is_contiguous() else t.contiguous())
    # Inputs passed as the block's own storage (the rest are compact copies
    # of fused or stacked weights).
    own = {t.data_ptr() for t in hf_tensors(block).values()} | {hidden.data_ptr()}
    in_place = sum(1 for t in inputs if t.data_ptr() in own)
    bundle = moert.Bundle.from_file(moert_library(), os.path.join(cases_dir, case["bundle"]))
    function = bundle.find_function(case["function"])
    manifest = [i.name for i in bundle.inputs(function)]
    if manifest != [e["name"] for e in case["inputs"]]:
        raise MappingError(f"bundle inputs {manifest} differ from cases.json")
    if device == "cuda":
        torch.cuda.empty_cache()
    session = moert.Session(bundle, device=device)
    if device == "cuda":
        session.set_stream(torch.cuda.current_stream().cuda_stream)
    ours = torch.full((T, H), float("nan"), dtype=dtype, device=device)
    _, first_ms = timed(device, lambda: session.run(function, inputs, [ours]))
    times, rerun_diff = [], 0.0
    again = torch.full_like(ours, float("nan"))
    for _ in range(max(1, repeat)):
        again.fill_(float("nan"))
        _, ms = timed(device, lambda: session.run(function, inputs, [again]))
        times.append(ms)
        # NaN == NaN here: an element both runs leave unwritten is counted below.
        differs = (ours != again) & ~(torch.isnan(ours) & torch.isnan(again))
        if differs.any():
            rerun_diff = max(rerun_diff, (ours.double() - again.double())[differs].abs()
                             .nan_to_num(float("inf")).max().item())
    session.close()
    bundle.close()

    unwritten = int(torch.isnan(ours).sum().item())
    finite = bool(torch.isfinite(ours).all().item())
    scale = hf.double().abs().max().item()
    max_abs = (ours.double() - hf.double()).abs().nan_to_num(float("inf")).max().item()
    err = rel_l2(ours, ref)
    hf_err = rel_l2(hf, ref)
    result.update(
        max_abs=max_abs, max_hf=scale, rel_l2_vs_hf=rel_l2(ours, hf),
        err=err, hf_err=hf_err, map_err=rel_l2(spec, ref),
        rerun_diff=rerun_diff, unwritten=unwritten,
        ours_ms=sorted(times)[len(times) // 2], first_ms=first_ms, hf_ms=hf_ms,
        in_place=f"{in_place}/{len(inputs)}")
    reasons = []
    if unwritten:
        reasons.append(f"{unwritten} elements unwritten")
    elif not finite:
        reasons.append("non-finite output")
    if rerun_diff != 0.0:
        reasons.append(f"second run differs by {rerun_diff:.3g}")
    if case["dtype"] == "f32":
        bound = 1e-4 * max(1.0, scale)
        result["bound"] = bound
        if not max_abs <= bound:
            reasons.append(f"max|ours-hf| {max_abs:.3g} > {bound:.3g}")
    else:
        bound = 2 * hf_err + 1e-3
        result["bound"] = bound
        if not err <= bound:
            reasons.append(f"relL2(ours, fp64) {err:.3g} > 2*{hf_err:.3g}+1e-3")
    result["verdict"] = "FAIL" if reasons else "PASS"
    result["reason"] = "; ".join(reasons)
    # transformers routes in fp32 even in an fp64 block: ~1e-7 is expected.
    if result["map_err"] > 1e-5:
        result["note"] = (f"map_err {result['map_err']:.3g}: the plain-torch "
                          "semantics on the mapped weights differ from HF")
    return result


_LIBRARY = None


def moert_library():
    return _LIBRARY


def row(r):
    def g(key, fmt="{:.3g}"):
        value = r.get(key)
        return fmt.format(value) if isinstance(value, (int, float)) else "-"
    return (f"{r['family']:<12} {r['dtype']:<4} {r['tokens']:>4}  {g('max_abs'):>9} "
            f"{g('max_hf'):>7} {g('rel_l2_vs_hf'):>9} {g('err'):>9} {g('hf_err'):>9} "
            f"{g('map_err'):>8} {g('ours_ms', '{:.2f}'):>9} {g('hf_ms', '{:.2f}'):>8}  "
            f"{r['verdict']:<5} {r.get('reason', '')}")


HEADER = (f"{'family':<12} {'type':<4} {'T':>4}  {'max|o-hf|':>9} {'max|hf|':>7} "
          f"{'relL2(hf)':>9} {'err(fp64)':>9} {'hf_err':>9} {'map_err':>8} "
          f"{'ours ms':>9} {'hf ms':>8}  result")


def main(argv=None):
    global _LIBRARY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=os.path.join(ROOT, ".gpu", "hf-check"),
                        help="folder of cases.json and the bundles")
    parser.add_argument("--moert", default=None,
                        help="libmoert.so (default: MOERT_LIBRARY, else "
                             "build-gpu/lib/libmoert.so, else build/lib)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                        help="cpu: a dry run with cpu bundles (--target cpu)")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed runs after the checked one (each also checked "
                             "bit-identical to it)")
    parser.add_argument("--budget-s", type=float, default=0,
                        help="start no case that would end after this many seconds, "
                             "predicted from the last case's time (0: no limit)")
    parser.add_argument("--results", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    started = args.started = time.monotonic()

    try:
        import torch
    except ImportError:
        log("check_hf: SKIP: no torch for", sys.executable)
        return SKIP
    try:
        import transformers  # noqa: F401
    except ImportError:
        log("check_hf: SKIP: no transformers for", sys.executable)
        return SKIP
    if args.device == "cuda" and not torch.cuda.is_available():
        log("check_hf: SKIP: torch sees no CUDA GPU")
        return SKIP
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import moert

    path = args.moert or os.environ.get("MOERT_LIBRARY")
    if not path:
        candidates = [os.path.join(ROOT, d, "lib", "libmoert.so")
                      for d in (os.environ.get("MOE_GPU_BUILD_DIR", "build-gpu"), "build")]
        path = next((c for c in candidates if os.path.exists(c)), candidates[0])
    _LIBRARY = moert.Library(path)
    with open(os.path.join(args.cases, "cases.json")) as f:
        manifest = json.load(f)
    cases = [c for c in manifest["cases"] if args.only in c["name"]]
    expected_target = "cuda" if args.device == "cuda" else "cpu"
    if manifest["target"] != expected_target:
        log(f"check_hf: the cases are {manifest['target']} bundles; --device {args.device} "
            f"needs prepare-hf-check.sh --target {expected_target}")
        return 1
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        gpu = torch.cuda.get_device_name()
    else:
        gpu = "cpu"
    log(f"check_hf: torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{gpu}, libmoert {path}, {len(cases)} cases")

    results = []
    families = sorted({c["family"] for c in cases},
                      key=lambda f: FAMILY_ORDER.index(f) if f in FAMILY_ORDER else 99)
    for family in families:
        todo = sorted((c for c in cases if c["family"] == family),
                      key=lambda c: (c["dtype"] != "f32", c["tokens"]))
        if args.budget_s and time.monotonic() - started > args.budget_s:
            for c in todo:
                results.append({"name": c["name"], "family": family, "dtype": c["dtype"],
                                "tokens": c["tokens"], "verdict": "SKIP",
                                "reason": f"not run: over --budget-s {args.budget_s:g}"})
                log(row(results[-1]))
            continue
        for c in [c for c in todo if not c.get("bundle")]:
            results.append({"name": c["name"], "family": family, "dtype": c["dtype"],
                            "tokens": c["tokens"], "verdict": "FAIL",
                            "reason": "does not compile: " + c.get("compile_error", "?")})
            log(row(results[-1]))
        todo = [c for c in todo if c.get("bundle")]
        if not todo:
            continue
        try:
            results.extend(check_family(family, todo, moert, args))
        except Exception as e:  # the whole family: say why, go on
            traceback.print_exc()
            done = {r["name"] for r in results}
            for c in todo:
                if c["name"] not in done:
                    results.append({"name": c["name"], "family": family, "dtype": c["dtype"],
                                    "tokens": c["tokens"], "verdict": "FAIL",
                                    "reason": f"{type(e).__name__}: {e}"})
                    log(row(results[-1]))
        if args.device == "cuda":
            torch.cuda.empty_cache()

    log(f"\n== Hugging Face check on {gpu} (seed {args.seed}; bf16: err <= 2*hf_err+1e-3, "
        "err/hf_err = relL2 against the HF block in fp64; f32: max|o-hf| <= "
        "1e-4*max(1,max|hf|))")
    log(HEADER)
    for r in results:
        log(row(r))
    counts = {v: sum(1 for r in results if r["verdict"] == v) for v in ("PASS", "FAIL", "SKIP")}
    log(f"== {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} not run; "
        f"{time.monotonic() - started:.0f} s")
    if args.results:
        with open(args.results, "w") as f:
            json.dump({"gpu": gpu, "torch": torch.__version__,
                       "transformers": transformers.__version__, "results": results},
                      f, indent=1)
    if counts["FAIL"]:
        return 1
    return 2 if counts["SKIP"] else 0


def check_family(family, todo, moert, args):
    """The cases of one family: f32 ones on an f32 block, then bf16 ones on the
    same block rounded to bf16; each with an fp64 copy as the reference."""
    import torch
    if family not in HF_BLOCKS:
        raise MappingError(f"no transformers block known for family {family!r}")
    module_name, class_name = HF_BLOCKS[family]
    cls = getattr(importlib.import_module(module_name), class_name)
    config, dropped = hf_config(todo[0])
    block = construct(cls, config, args.device).eval()
    describe_block(block, family, config, dropped)
    init_weights(block, args.seed)
    results = []
    for dtype_name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        cases = [c for c in todo if c["dtype"] == dtype_name]
        if not cases:
            continue
        block.to(dtype)  # in place: f32 first, then rounded to bf16
        ref_block = copy.deepcopy(block).to(torch.float64)
        args_mapped, unused = map_arguments(block, cases[0])
        ref_args, _ = map_arguments(ref_block, cases[0])
        if unused:
            raise MappingError(f"block tensors no argument uses: {', '.join(unused)}")
        last = None  # (tokens, seconds) of the last case of this dtype
        for case in cases:
            if (case["hidden"], case["experts"]) != (todo[0]["hidden"], todo[0]["experts"]):
                raise MappingError(f"{case['name']}: sizes differ from {todo[0]['name']}")
            elapsed = time.monotonic() - args.started
            predicted = last[1] * max(1.0, case["tokens"] / last[0]) if last else 0.0
            if args.budget_s and elapsed + predicted > args.budget_s:
                r = {"name": case["name"], "family": family, "dtype": dtype_name,
                     "tokens": case["tokens"], "verdict": "SKIP",
                     "reason": f"not run: {elapsed:.0f} s + ~{predicted:.0f} s predicted "
                               f"> --budget-s {args.budget_s:g}"}
                results.append(r)
                log(row(r))
                continue
            case_started = time.monotonic()
            try:
                r = run_case(case, block, ref_block, args_mapped, ref_args, moert,
                             args.cases, args.device, args.seed, args.repeat)
            except Exception as e:
                traceback.print_exc()
                r = {"name": case["name"], "family": family, "dtype": dtype_name,
                     "tokens": case["tokens"], "verdict": "FAIL",
                     "reason": f"{type(e).__name__}: {e}"}
            last = (case["tokens"], time.monotonic() - case_started)
            results.append(r)
            log(row(r) + (f"  [{r['note']}]" if r.get("note") else "")
                + (f"  (inputs in place {r['in_place']}, first run {r['first_ms']:.2f} ms)"
                   if "in_place" in r else ""))
        del ref_block, args_mapped, ref_args
        if args.device == "cuda":
            torch.cuda.empty_cache()
    return results


if __name__ == "__main__":
    sys.exit(main())
