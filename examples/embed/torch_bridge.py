#!/usr/bin/env python3
"""PyTorch bridge: a Mixtral MoE block run by the MoE-MLIR runtime on torch tensors.

Shows how a serving engine swaps its MoE kernel for ours:

  1. compile a Mixtral-shaped moe.layer once (the installed `moe-translate
     --moe-to-bundle`, for the CPU or, with --bundle-target=cuda, the GPU; a
     C++ host would call mlir::moe::compileToBundle), or take a bundle compiled
     elsewhere (--bundle: a GPU machine needs no MLIR),
  2. open it with the runtime's Python bindings (`moert`, installed under
     PREFIX/lib/python: ctypes over moert.h),
  3. wrap the session in a torch.nn.Module (`MoertMoEBlock`) that takes the
     weights of an existing `MixtralSparseMoeBlock`-style module, and
  4. call it on torch tensors, passed zero-copy as DLPack tensors (CUDA tensors
     on torch's current stream for a cuda session), and compare with the eager
     torch block.

Exit codes: 0 match, 1 mismatch or error, 77 torch not installed (skip).
Usage: torch_bridge.py --prefix INSTALL_PREFIX [--device cpu|cuda] [--bundle FILE]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch_bridge: SKIP: PyTorch is not installed for", sys.executable,
          "(MOE_WITH_TORCH=1 scripts/install-deps.sh installs it)")
    sys.exit(77)

# Mixtral-8x7B's block scaled down (DESIGN §10 decode-like shape): tokens,
# hidden, expert intermediate, experts, top-k.
T, H, FF, E, K = 16, 128, 256, 8, 2


# --------------------------------------------------------------------------
# The torch side: the block a model already has, and our drop-in for it.
# --------------------------------------------------------------------------

class Expert(torch.nn.Module):
    """MixtralBlockSparseTop2MLP: w2(silu(w1 x) * w3 x)."""

    def __init__(self):
        super().__init__()
        self.w1 = torch.nn.Linear(H, FF, bias=False)
        self.w2 = torch.nn.Linear(FF, H, bias=False)
        self.w3 = torch.nn.Linear(H, FF, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TorchMoEBlock(torch.nn.Module):
    """MixtralSparseMoeBlock, written out the straightforward way."""

    def __init__(self):
        super().__init__()
        self.gate = torch.nn.Linear(H, E, bias=False)
        self.experts = torch.nn.ModuleList(Expert() for _ in range(E))

    def forward(self, hidden):
        logits = self.gate(hidden)
        weights = F.softmax(logits, dim=1, dtype=torch.float)
        weights, selected = torch.topk(weights, K, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(hidden)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(selected == e)
            if token.numel():
                out.index_add_(0, token,
                               expert(hidden[token]) * weights[token, slot, None])
        return out


class MoertMoEBlock(torch.nn.Module):
    """Drop-in replacement running the compiled bundle; same weights."""

    def __init__(self, session, block):
        super().__init__()
        self.session = session
        with torch.no_grad():
            self.router = block.gate.weight.detach().contiguous()            # [E, H]
            self.w1 = torch.stack([x.w1.weight for x in block.experts]).contiguous()
            self.w3 = torch.stack([x.w3.weight for x in block.experts]).contiguous()
            self.w2 = torch.stack([x.w2.weight for x in block.experts]).contiguous()

    def forward(self, hidden):
        out = torch.empty_like(hidden)
        self.session.run("mixtral_moe", [hidden.contiguous(), self.router, self.w1,
                                         self.w3, self.w2], [out])
        return out


LAYER = f"""
func.func @mixtral_moe(%x: tensor<{T}x{H}xf32>, %router: tensor<{E}x{H}xf32>,
                       %w1: tensor<{E}x{FF}x{H}xf32>, %w3: tensor<{E}x{FF}x{H}xf32>,
                       %w2: tensor<{E}x{H}x{FF}xf32>) -> tensor<{T}x{H}xf32> {{
  %y = moe.layer %x router %router experts gate %w1 up %w3 down %w2
      routing <scoring = softmax, top_k = {K}, renormalize = true>
      activation silu layout out_in
      : (tensor<{T}x{H}xf32>, tensor<{E}x{H}xf32>, tensor<{E}x{FF}x{H}xf32>,
         tensor<{E}x{FF}x{H}xf32>, tensor<{E}x{H}x{FF}xf32>) -> tensor<{T}x{H}xf32>
  return %y : tensor<{T}x{H}xf32>
}}
"""


def compile_bundle(moe_translate, device):
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "mixtral.mlir")
        bundle = os.path.join(tmp, "mixtral.bundle")
        with open(source, "w") as f:
            f.write(LAYER)
        subprocess.run([moe_translate, "--moe-to-bundle", f"--bundle-target={device}",
                        source, "-o", bundle], check=True)
        with open(bundle, "rb") as f:
            return f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default=os.environ.get("MOE_PREFIX"),
                        help="install prefix of MoE-MLIR (lib/libmoert.so, "
                             "lib/python/moert, bin/moe-translate)")
    parser.add_argument("--moert", help="libmoert.so (default: PREFIX/lib)")
    parser.add_argument("--python-dir", help="folder holding the moert package "
                        "(default: PREFIX/lib/python)")
    parser.add_argument("--moe-translate", help="default: PREFIX/bin")
    parser.add_argument("--bundle", help="a bundle compiled elsewhere (otherwise "
                        "this compiles one with moe-translate)")
    parser.add_argument("--device", choices=["cpu", "cuda"],
                        help="default: cuda when torch sees a GPU, else cpu")
    args = parser.parse_args()
    if not args.prefix and not (args.moert and args.python_dir and
                                (args.bundle or args.moe_translate)):
        parser.error("give --prefix (or --moert, --python-dir and --bundle or "
                     "--moe-translate)")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    sys.path.insert(0, args.python_dir or os.path.join(args.prefix, "lib", "python"))
    import moert

    moert_path = args.moert or os.path.join(args.prefix, "lib", "libmoert.so")
    translate = args.moe_translate or os.path.join(args.prefix, "bin", "moe-translate")
    torch.manual_seed(0)
    block = TorchMoEBlock().eval().to(device)
    hidden = torch.randn(T, H, device=device)

    start = time.perf_counter()
    if args.bundle:
        with open(args.bundle, "rb") as f:
            data = f.read()
    else:
        data = compile_bundle(translate, device)
    compile_s = time.perf_counter() - start
    library = moert.Library(moert_path)
    bundle = moert.Bundle.from_bytes(library, data)
    session = moert.Session(bundle, device=device)
    if device == "cuda":
        # Our kernels run on torch's stream, ordered with its own work.
        session.set_stream(torch.cuda.current_stream().cuda_stream)
    print(f"torch {torch.__version__}; bundle {len(data)} bytes, target "
          f"{bundle.target}, {'read' if args.bundle else 'compiled'} in "
          f"{compile_s:.1f} s; {device} session"
          + (f" on {torch.cuda.get_device_name()}" if device == "cuda" else ""))

    ours = MoertMoEBlock(session, block)
    with torch.no_grad():
        expected = block(hidden)
        got = ours(hidden)
    error = (got - expected).abs().max().item()
    scale = expected.abs().max().item()
    print(f"Mixtral block T={T} H={H} F={FF} E={E} K={K}: "
          f"max |moert - torch| = {error:.3g} (max |torch| = {scale:.3g})")

    # The other device's tensors are refused with a clear error.
    other = "cpu" if device == "cuda" else ("cuda" if torch.cuda.is_available() else None)
    if other:
        try:
            ours(hidden.to(other))
        except moert.MoertError as e:
            print(f"{other} tensors on a {device} session:", e)

    if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5 * max(1.0, scale)):
        print("torch_bridge: FAILED")
        return 1
    print(f"torch_bridge: OK ({device})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
