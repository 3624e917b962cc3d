#!/usr/bin/env python3
"""PyTorch bridge: a Mixtral MoE block run by the MoE-MLIR runtime on torch tensors.

Shows how a serving engine swaps its MoE kernel for ours:

  1. compile a Mixtral-shaped moe.layer once (the installed `moe-translate
     --moe-to-bundle`; a C++ host would call mlir::moe::compileToBundle),
  2. load libmoert with ctypes and open the bundle from memory,
  3. wrap the session in a torch.nn.Module (`MoertMoEBlock`) that takes the
     weights of an existing `MixtralSparseMoeBlock`-style module, and
  4. call it on torch CPU tensors, passed zero-copy as DLPack tensors
     (torch.utils.dlpack.to_dlpack -> moert_session_run_dl), and compare with
     the eager torch block.

CPU only for now: the bundle is a cpu one, and a cpu session answers
MOERT_ERROR_UNSUPPORTED for CUDA tensors. The runtime runs CUDA bundles on
CUDA tensors and the caller's stream (docs/embedding.md, section 4.1); the GPU
half of this bridge waits for a CUDA bundle from the compiler.

Exit codes: 0 match, 1 mismatch or error, 77 torch not installed (skip).
Usage: torch_bridge.py --prefix INSTALL_PREFIX
"""

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torch.nn.functional as F
    from torch.utils import dlpack
except ImportError:
    print("torch_bridge: SKIP: PyTorch is not installed for", sys.executable,
          "(MOE_WITH_TORCH=1 scripts/install-deps.sh installs it)")
    sys.exit(77)

# Mixtral-8x7B's block scaled down (DESIGN §10 decode-like shape): tokens,
# hidden, expert intermediate, experts, top-k.
T, H, FF, E, K = 16, 128, 256, 8, 2


# --------------------------------------------------------------------------
# The runtime C API (moert/moert.h) through ctypes.
# --------------------------------------------------------------------------

class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    """moert_dl_tensor_t == DLPack's DLTensor."""
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice),
                ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class MoertError(RuntimeError):
    pass


class Moert:
    """The few moert_* entry points the bridge needs."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        vp, sz, st = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
        lib.moert_status_code.restype = ctypes.c_int
        lib.moert_status_code.argtypes = [st]
        lib.moert_status_message.restype = ctypes.c_char_p
        lib.moert_status_message.argtypes = [st]
        lib.moert_status_free.argtypes = [st]
        lib.moert_status_code_string.restype = ctypes.c_char_p
        lib.moert_status_code_string.argtypes = [ctypes.c_int]
        lib.moert_bundle_load_memory.restype = st
        lib.moert_bundle_load_memory.argtypes = [vp, sz, ctypes.POINTER(vp)]
        lib.moert_bundle_release.argtypes = [vp]
        lib.moert_bundle_find_function.restype = st
        lib.moert_bundle_find_function.argtypes = [vp, ctypes.c_char_p,
                                                   ctypes.POINTER(sz)]
        lib.moert_bundle_target.restype = ctypes.c_char_p
        lib.moert_bundle_target.argtypes = [vp]
        lib.moert_session_create.restype = st
        lib.moert_session_create.argtypes = [vp, ctypes.POINTER(vp)]
        lib.moert_session_release.argtypes = [vp]
        lib.moert_session_run_dl.restype = st
        lib.moert_session_run_dl.argtypes = [vp, sz, ctypes.POINTER(DLTensor), sz,
                                             ctypes.POINTER(DLTensor), sz]
        self.lib = lib

    def check(self, status, what):
        if not status:
            return
        code = self.lib.moert_status_code(status)
        message = self.lib.moert_status_message(status).decode()
        name = self.lib.moert_status_code_string(code).decode()
        self.lib.moert_status_free(status)
        raise MoertError(f"{what}: [{name}] {message}")


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def to_dl(tensor):
    """(capsule, DLTensor) of a contiguous torch tensor, zero-copy. The
    capsule owns the DLManagedTensor (whose first member is the DLTensor):
    keep it alive while the runtime uses the struct."""
    capsule = dlpack.to_dlpack(tensor)
    return capsule, DLTensor.from_address(_capsule_pointer(capsule, b"dltensor"))


class MoertSession:
    """One loaded bundle and a CPU session on it."""

    def __init__(self, moert, bundle_bytes, function):
        self.moert = moert
        lib = moert.lib
        self.bundle = ctypes.c_void_p()
        data = ctypes.create_string_buffer(bundle_bytes, len(bundle_bytes))
        moert.check(lib.moert_bundle_load_memory(data, len(bundle_bytes),
                                                 ctypes.byref(self.bundle)),
                    "moert_bundle_load_memory")
        self.target = lib.moert_bundle_target(self.bundle).decode()
        self.function = ctypes.c_size_t()
        moert.check(lib.moert_bundle_find_function(self.bundle, function.encode(),
                                                   ctypes.byref(self.function)),
                    "moert_bundle_find_function")
        self.session = ctypes.c_void_p()
        moert.check(lib.moert_session_create(self.bundle, ctypes.byref(self.session)),
                    "moert_session_create")

    def run(self, inputs, outputs):
        """Runs on torch tensors; writes `outputs` in place."""
        keep = [to_dl(t.contiguous()) for t in inputs]
        out = [to_dl(t) for t in outputs]
        ins = (DLTensor * len(keep))(*[dl for _, dl in keep])
        outs = (DLTensor * len(out))(*[dl for _, dl in out])
        self.moert.check(self.moert.lib.moert_session_run_dl(
            self.session, self.function, ins, len(keep), outs, len(out)),
            "moert_session_run_dl")
        del keep, out

    def __del__(self):
        lib = getattr(self.moert, "lib", None)
        if lib and getattr(self, "session", None):
            lib.moert_session_release(self.session)
        if lib and getattr(self, "bundle", None):
            lib.moert_bundle_release(self.bundle)


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
        self.session.run([hidden, self.router, self.w1, self.w3, self.w2], [out])
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


def compile_bundle(moe_translate):
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "mixtral.mlir")
        bundle = os.path.join(tmp, "mixtral.bundle")
        with open(source, "w") as f:
            f.write(LAYER)
        subprocess.run([moe_translate, "--moe-to-bundle", source, "-o", bundle],
                       check=True)
        with open(bundle, "rb") as f:
            return f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default=os.environ.get("MOE_PREFIX"),
                        help="install prefix of MoE-MLIR (lib/libmoert.so, "
                             "bin/moe-translate)")
    parser.add_argument("--moert", help="libmoert.so (default: PREFIX/lib)")
    parser.add_argument("--moe-translate", help="default: PREFIX/bin")
    args = parser.parse_args()
    if not args.prefix and not (args.moert and args.moe_translate):
        parser.error("give --prefix (or --moert and --moe-translate)")
    moert_path = args.moert or os.path.join(args.prefix, "lib", "libmoert.so")
    translate = args.moe_translate or os.path.join(args.prefix, "bin", "moe-translate")

    torch.manual_seed(0)
    block = TorchMoEBlock().eval()
    hidden = torch.randn(T, H)

    start = time.perf_counter()
    bundle = compile_bundle(translate)
    compile_s = time.perf_counter() - start
    session = MoertSession(Moert(moert_path), bundle, "mixtral_moe")
    print(f"torch {torch.__version__}; bundle {len(bundle)} bytes, target "
          f"{session.target}, compiled in {compile_s:.1f} s")

    ours = MoertMoEBlock(session, block)
    with torch.no_grad():
        expected = block(hidden)
        got = ours(hidden)
    error = (got - expected).abs().max().item()
    scale = expected.abs().max().item()
    print(f"Mixtral block T={T} H={H} F={FF} E={E} K={K}: "
          f"max |moert - torch| = {error:.3g} (max |torch| = {scale:.3g})")

    # CUDA tensors need a cuda session (a CUDA bundle): a cpu one says so.
    if torch.cuda.is_available():
        try:
            ours(hidden.cuda())
        except MoertError as e:
            print("cuda tensors on a cpu session:", e)

    if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5 * max(1.0, scale)):
        print("torch_bridge: FAILED")
        return 1
    print("torch_bridge: OK (CPU; the GPU half waits for a CUDA bundle)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
