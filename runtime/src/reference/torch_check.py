#!/usr/bin/env python3
"""PyTorch cross-check of the C++ reference (runtime/src/reference).

For each family and seed, runs `moert-reference-dump` (random inputs of one
small MoE layer plus the reference's output), recomputes the layer with a
straightforward PyTorch implementation written from DESIGN §8 and shaped like
Hugging Face's MixtralSparseMoeBlock / Qwen2MoeSparseMoeBlock / DeepseekV3MoE,
in float64, and compares. Fails above 1e-6 relative error.

Exits 77 (ctest SKIP_RETURN_CODE) when torch cannot be imported.

  torch_check.py --dump-tool build/.../moert-reference-dump [--seeds 3]
  torch_check.py --from-json dump1.json dump2.json ...   (dumps made elsewhere)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
FAMILIES = ("mixtral", "qwen2_moe", "deepseek_v3")
RELATIVE_TOLERANCE = 1e-6


def tensor(torch, dump, name):
    entry = dump["tensors"][name]
    return torch.tensor(entry["data"], dtype=torch.float64).reshape(entry["shape"])


def mlp(F, x, gate, up, down):
    """HF *MLP: down_proj(silu(gate_proj(x)) * up_proj(x)); nn.Linear weights are [out, in]."""
    return F.linear(F.silu(F.linear(x, gate)) * F.linear(x, up), down)


def routed_experts(torch, F, x, weights, selected, gate, up, down):
    """The HF expert loop: each expert processes the tokens that chose it, scaled by their weight."""
    num_experts = gate.shape[0]
    final = torch.zeros_like(x)
    expert_mask = F.one_hot(selected, num_classes=num_experts).permute(2, 1, 0)
    for e in range(num_experts):
        slot, token = torch.where(expert_mask[e])
        if token.numel() == 0:
            continue
        out = mlp(F, x[token], gate[e], up[e], down[e]) * weights[token, slot, None]
        final.index_add_(0, token, out)
    return final


def softmax_top_k(torch, F, x, router, top_k, renormalize):
    """Mixtral / Qwen2-MoE router: softmax over experts, top-k, optional renormalisation."""
    probabilities = F.softmax(F.linear(x, router), dim=1, dtype=torch.float64)
    weights, selected = torch.topk(probabilities, top_k, dim=-1)
    if renormalize:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights, selected


def mixtral(torch, F, dump):
    c = dump["config"]
    x = tensor(torch, dump, "tokens")
    weights, selected = softmax_top_k(torch, F, x, tensor(torch, dump, "router"), c["top_k"], True)
    return routed_experts(torch, F, x, weights, selected, tensor(torch, dump, "gate"),
                          tensor(torch, dump, "up"), tensor(torch, dump, "down"))


def qwen2_moe(torch, F, dump):
    c = dump["config"]
    x = tensor(torch, dump, "tokens")
    weights, selected = softmax_top_k(torch, F, x, tensor(torch, dump, "router"), c["top_k"], False)
    out = routed_experts(torch, F, x, weights, selected, tensor(torch, dump, "gate"),
                         tensor(torch, dump, "up"), tensor(torch, dump, "down"))
    shared = mlp(F, x, tensor(torch, dump, "shared_gate"), tensor(torch, dump, "shared_up"),
                 tensor(torch, dump, "shared_down"))
    shared_gate = tensor(torch, dump, "shared_sigmoid_gate").unsqueeze(0)  # Linear(H, 1)
    return out + torch.sigmoid(F.linear(x, shared_gate)) * shared


def deepseek_v3(torch, F, dump):
    c = dump["config"]
    x = tensor(torch, dump, "tokens")
    tokens = x.shape[0]
    scores = torch.sigmoid(F.linear(x, tensor(torch, dump, "router")))
    choice = scores + tensor(torch, dump, "bias")  # the bias selects, never weights
    groups = c["num_groups"]
    group_size = choice.shape[1] // groups
    group_scores = choice.view(tokens, groups, group_size).topk(2, dim=-1)[0].sum(dim=-1)
    group_index = torch.topk(group_scores, k=c["kept_groups"], dim=-1, sorted=False)[1]
    group_mask = torch.zeros_like(group_scores)
    group_mask.scatter_(1, group_index, 1)
    score_mask = group_mask.unsqueeze(-1).expand(tokens, groups, group_size).reshape(tokens, -1)
    # HF fills dropped groups with 0.0; DESIGN §8 takes top-K *within* the
    # kept groups, so they are excluded outright.
    masked = choice.masked_fill(~score_mask.bool(), float("-inf"))
    selected = torch.topk(masked, k=c["top_k"], dim=-1, sorted=False)[1]
    weights = scores.gather(1, selected)
    if c["renormalize"]:
        weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
    weights = weights * c["scaling_factor"]
    out = routed_experts(torch, F, x, weights, selected, tensor(torch, dump, "gate"),
                         tensor(torch, dump, "up"), tensor(torch, dump, "down"))
    return out + mlp(F, x, tensor(torch, dump, "shared_gate"), tensor(torch, dump, "shared_up"),
                     tensor(torch, dump, "shared_down"))


def check(torch, F, dump):
    """Returns (ok, message) for one dump."""
    compute = {"mixtral": mixtral, "qwen2_moe": qwen2_moe, "deepseek_v3": deepseek_v3}
    expected = compute[dump["family"]](torch, F, dump)
    reference = tensor(torch, {"tensors": {"output": dump["output"]}}, "output")
    error = (expected - reference).abs().max().item()
    scale = max(1.0, reference.abs().max().item())
    ok = error <= RELATIVE_TOLERANCE * scale
    return ok, "%-12s seed %-3s max abs error %.3e (scale %.3f) %s" % (
        dump["family"], dump["seed"], error, scale, "ok" if ok else "FAIL")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump-tool", help="path of moert-reference-dump")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--from-json", nargs="*", default=[], help="check existing dumps")
    args = parser.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except Exception as exception:  # ImportError, or a broken install
        print("SKIP: cannot import torch (%s); the PyTorch cross-check of the "
              "reference needs python3-torch" % exception)
        return SKIP

    dumps = []
    for path in args.from_json:
        with open(path) as file:
            dumps.append(json.load(file))
    if args.dump_tool:
        with tempfile.TemporaryDirectory() as directory:
            for family in FAMILIES:
                for seed in range(1, args.seeds + 1):
                    path = os.path.join(directory, "%s-%d.json" % (family, seed))
                    subprocess.run([args.dump_tool, family, str(seed), path], check=True)
                    with open(path) as file:
                        dumps.append(json.load(file))
    if not dumps:
        parser.error("give --dump-tool or --from-json")

    failures = 0
    for dump in dumps:
        ok, message = check(torch, F, dump)
        print(message)
        failures += not ok
    print("torch %s: %d of %d dumps agree" % (torch.__version__, len(dumps) - failures, len(dumps)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
