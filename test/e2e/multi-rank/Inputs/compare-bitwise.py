"""Runs two multi-rank bundles of the same function on the same inputs and
checks that every output is bitwise identical on this rank.

Usage (under mpirun): compare-bitwise.py PYTHON_DIR LIBMOERT A.bundle B.bundle

Each rank fills its local input blocks with the same pseudo-random values for
both bundles (seeded by the rank and the input's index), runs function 0 of
each, and compares the output bytes. Prints "rank R: N output bytes
identical" or the first differing element, and exits 1 on a difference.
"""

import ctypes
import random
import struct
import sys

sys.path.insert(0, sys.argv[1])
import moert  # noqa: E402

# DLPack dtypes of the manifest dtypes (kDLFloat 2, kDLInt 0, kDLBfloat 4).
DL_DTYPES = {"f32": (2, 32), "f16": (2, 16), "bf16": (4, 16), "i32": (0, 32),
             "i64": (0, 64)}


def fill(info, seed):
    """Bytes of `info`'s tensor: values in [-1, 1) (integers: 0)."""
    rng = random.Random(seed)
    count = info.byte_size * 8 // DL_DTYPES[info.dtype][1]
    if info.dtype == "f32":
        return struct.pack(f"<{count}f", *(rng.uniform(-1, 1) for _ in range(count)))
    if info.dtype == "bf16":
        words = struct.unpack(f"<{count}I", struct.pack(
            f"<{count}f", *(rng.uniform(-1, 1) for _ in range(count))))
        return struct.pack(f"<{count}H", *(w >> 16 for w in words))
    return bytes(info.byte_size)


def dl_tensor(info, buffer, shape):
    code, bits = DL_DTYPES[info.dtype]
    tensor = moert.DLTensor()
    tensor.data = ctypes.cast(buffer, ctypes.c_void_p)
    tensor.device = moert.DLDevice(moert.DL_CPU, 0)
    tensor.ndim = len(info.shape)
    tensor.dtype = moert.DLDataType(code, bits, 1)
    tensor.shape = shape
    tensor.strides = None
    tensor.byte_offset = 0
    return tensor


def run(library, path, inputs):
    bundle = moert.Bundle.from_file(library, path)
    session = moert.Session(bundle)
    keep = []

    def tensors(infos, buffers):
        array = (moert.DLTensor * max(1, len(infos)))()
        for i, (info, buffer) in enumerate(zip(infos, buffers)):
            shape = (ctypes.c_int64 * max(1, len(info.shape)))(*info.shape)
            keep.append(shape)
            array[i] = dl_tensor(info, buffer, shape)
        return array

    in_infos, out_infos = bundle.inputs(), bundle.outputs()
    in_buffers = [ctypes.create_string_buffer(data, len(data)) for data in inputs]
    out_buffers = [ctypes.create_string_buffer(info.byte_size) for info in out_infos]
    library.check(library.lib.moert_session_run_dl(
        session.handle, 0, tensors(in_infos, in_buffers), len(in_infos),
        tensors(out_infos, out_buffers), len(out_infos)), "moert_session_run_dl")
    session.close()
    return [(info, buffer.raw) for info, buffer in zip(out_infos, out_buffers)]


def main():
    library = moert.Library(sys.argv[2])
    first = moert.Bundle.from_file(library, sys.argv[3])
    world = moert.Session(first)  # joins the world: the rank is known after
    world.close()
    rank = int(__import__("os").environ.get("OMPI_COMM_WORLD_RANK", "0"))
    inputs = [fill(info, 1000 * rank + i) for i, info in enumerate(first.inputs())]
    a = run(library, sys.argv[3], inputs)
    b = run(library, sys.argv[4], inputs)
    total = 0
    for (info, x), (_, y) in zip(a, b):
        if x != y:
            width = DL_DTYPES[info.dtype][1] // 8
            at = next(i for i in range(0, len(x), width) if x[i:i + width] != y[i:i + width])
            print(f"rank {rank}: output {info.name} differs at element {at // width}",
                  flush=True)
            sys.exit(1)
        total += len(x)
    print(f"rank {rank}: {total} output bytes identical", flush=True)
    library.lib.moert_world_finalize.restype = ctypes.c_void_p
    library.lib.moert_status_free(library.lib.moert_world_finalize())


main()
