"""ctypes bindings of the MoE-MLIR runtime C API (runtime/include/moert/moert.h).

Loads libmoert.so, opens bundles, creates CPU or CUDA sessions and runs them
on DLPack tensors (PyTorch, JAX, CuPy, ...) zero-copy:

    import moert
    lib = moert.Library("build/lib/libmoert.so")
    bundle = moert.Bundle.from_file(lib, "layer.bundle")
    session = moert.Session(bundle, device="cuda")          # or "cpu"
    session.set_stream(torch.cuda.current_stream().cuda_stream)
    session.run(0, [x, router, w1, w3, w2], [out])          # torch tensors

Plain Python 3 and ctypes; torch is imported only to export torch tensors
(torch.utils.dlpack.to_dlpack); other objects need __dlpack__(). Every failing
call raises MoertError with the runtime's code and message.
"""

import ctypes
import os

__all__ = [
    "DLDevice", "DLDataType", "DLTensor", "MoertError", "Library", "TensorInfo",
    "Bundle", "Session", "to_dl", "DTYPE_NAMES", "DL_CPU", "DL_CUDA",
    "DL_CUDA_HOST",
]

# moert_dtype_t (bundle_format.h).
DTYPE_NAMES = {1: "f32", 2: "f16", 3: "bf16", 4: "i32", 5: "i64"}
# moert_device_t.
DEVICES = {"cpu": 0, "cuda": 1}
# DLDeviceType values.
DL_CPU, DL_CUDA, DL_CUDA_HOST = 1, 2, 3


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    """moert_dl_tensor_t, which has the layout of DLPack's DLTensor."""
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice),
                ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class MoertError(RuntimeError):
    """A moert_status_t: `code` (int), `code_name` ("INVALID_ARGUMENT", ...)."""

    def __init__(self, what, code, code_name, message):
        super().__init__(f"{what}: [{code_name}] {message}")
        self.code = code
        self.code_name = code_name
        self.message = message


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_size_t),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("element_count", ctypes.c_size_t),
                ("byte_size", ctypes.c_size_t)]


class TensorInfo:
    """One manifest tensor: name, dtype ("bf16", ...), shape (tuple)."""

    def __init__(self, name, dtype, shape, byte_size):
        self.name, self.dtype, self.shape, self.byte_size = name, dtype, shape, byte_size

    def __repr__(self):
        return f"TensorInfo({self.name!r}, {self.dtype}, {list(self.shape)})"


class Library:
    """libmoert.so with the prototypes of moert.h declared."""

    def __init__(self, path=None):
        path = path or os.environ.get("MOERT_LIBRARY") or "libmoert.so"
        self.path = path
        lib = ctypes.CDLL(path)
        vp, sz, st, i32 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int32
        pvp, psz = ctypes.POINTER(vp), ctypes.POINTER(sz)
        pdl = ctypes.POINTER(DLTensor)

        def declare(name, restype, *argtypes, optional=False):
            function = getattr(lib, name, None)
            if function is None:
                if optional:
                    return
                raise AttributeError(f"{path} has no {name}")
            function.restype = restype
            function.argtypes = list(argtypes)

        declare("moert_status_code", ctypes.c_int, st)
        declare("moert_status_message", ctypes.c_char_p, st)
        declare("moert_status_free", None, st)
        declare("moert_status_code_string", ctypes.c_char_p, ctypes.c_int)
        declare("moert_bundle_load_file", st, ctypes.c_char_p, pvp)
        declare("moert_bundle_load_memory", st, vp, sz, pvp)
        declare("moert_bundle_release", None, vp)
        declare("moert_bundle_target", ctypes.c_char_p, vp)
        declare("moert_bundle_function_count", sz, vp)
        declare("moert_bundle_function_name", ctypes.c_char_p, vp, sz)
        declare("moert_bundle_find_function", st, vp, ctypes.c_char_p, psz)
        declare("moert_bundle_input_count", sz, vp, sz)
        declare("moert_bundle_output_count", sz, vp, sz)
        declare("moert_bundle_input_info", st, vp, sz, sz, ctypes.POINTER(_TensorInfo))
        declare("moert_bundle_output_info", st, vp, sz, sz, ctypes.POINTER(_TensorInfo))
        declare("moert_bundle_reference_program", ctypes.c_char_p, vp, sz)
        declare("moert_session_create", st, vp, pvp)
        declare("moert_session_create_on_device", st, vp, ctypes.c_int, pvp,
                optional=True)
        declare("moert_session_create_on_device_id", st, vp, ctypes.c_int, i32, pvp,
                optional=True)
        declare("moert_session_release", None, vp)
        declare("moert_session_set_stream", st, vp, vp, optional=True)
        declare("moert_session_reset_stream", st, vp, optional=True)
        declare("moert_session_run_dl", st, vp, sz, pdl, sz, pdl, sz)
        self.lib = lib

    def has(self, name):
        return getattr(self.lib, name, None) is not None

    def check(self, status, what):
        """Raises MoertError for a non-NULL status (and frees it)."""
        if not status:
            return
        lib = self.lib
        code = lib.moert_status_code(status)
        message = lib.moert_status_message(status).decode(errors="replace")
        name = lib.moert_status_code_string(code).decode()
        lib.moert_status_free(status)
        raise MoertError(what, code, name, message)


class Bundle:
    """A loaded, validated bundle."""

    def __init__(self, library, handle):
        self.library = library
        self.handle = handle

    @classmethod
    def from_file(cls, library, path):
        handle = ctypes.c_void_p()
        library.check(library.lib.moert_bundle_load_file(
            os.fsencode(path), ctypes.byref(handle)), f"loading {path}")
        return cls(library, handle)

    @classmethod
    def from_bytes(cls, library, data):
        handle = ctypes.c_void_p()
        buffer = ctypes.create_string_buffer(bytes(data), len(data))
        library.check(library.lib.moert_bundle_load_memory(
            buffer, len(data), ctypes.byref(handle)), "moert_bundle_load_memory")
        return cls(library, handle)

    @property
    def target(self):
        return self.library.lib.moert_bundle_target(self.handle).decode()

    def function_names(self):
        lib = self.library.lib
        return [lib.moert_bundle_function_name(self.handle, i).decode()
                for i in range(lib.moert_bundle_function_count(self.handle))]

    def find_function(self, name):
        index = ctypes.c_size_t()
        self.library.check(self.library.lib.moert_bundle_find_function(
            self.handle, name.encode(), ctypes.byref(index)),
            f"function {name!r}")
        return index.value

    def _infos(self, function, count_fn, info_fn, what):
        infos = []
        for i in range(count_fn(self.handle, function)):
            raw = _TensorInfo()
            self.library.check(info_fn(self.handle, function, i, ctypes.byref(raw)),
                               f"{what} {i}")
            infos.append(TensorInfo(raw.name.decode(), DTYPE_NAMES.get(raw.dtype, "?"),
                                    tuple(raw.shape[d] for d in range(raw.rank)),
                                    raw.byte_size))
        return infos

    def inputs(self, function=0):
        lib = self.library.lib
        return self._infos(function, lib.moert_bundle_input_count,
                           lib.moert_bundle_input_info, "input")

    def outputs(self, function=0):
        lib = self.library.lib
        return self._infos(function, lib.moert_bundle_output_count,
                           lib.moert_bundle_output_info, "output")

    def reference_program(self, function=0):
        text = self.library.lib.moert_bundle_reference_program(self.handle, function)
        return text.decode() if text else None

    def close(self):
        if self.handle:
            self.library.lib.moert_bundle_release(self.handle)
            self.handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def to_dl(tensor):
    """(capsule, DLTensor) of `tensor`, zero-copy: a torch tensor through
    torch.utils.dlpack.to_dlpack, else tensor.__dlpack__(). The capsule owns
    the DLManagedTensor whose first member is the DLTensor: keep it alive while
    the runtime uses the struct."""
    if type(tensor).__module__.startswith("torch"):
        from torch.utils import dlpack
        capsule = dlpack.to_dlpack(tensor)
    else:
        capsule = tensor.__dlpack__()
    return capsule, DLTensor.from_address(_capsule_pointer(capsule, b"dltensor"))


class Session:
    """A session of `bundle` on "cpu" or "cuda" (device `device_id`)."""

    def __init__(self, bundle, device="cpu", device_id=0):
        self.bundle = bundle
        self.library = bundle.library
        lib = self.library.lib
        self.handle = ctypes.c_void_p()
        self.device = device
        if device == "cpu" and not self.library.has("moert_session_create_on_device"):
            status = lib.moert_session_create(bundle.handle, ctypes.byref(self.handle))
        elif self.library.has("moert_session_create_on_device_id"):
            status = lib.moert_session_create_on_device_id(
                bundle.handle, DEVICES[device], device_id, ctypes.byref(self.handle))
        else:
            status = lib.moert_session_create_on_device(
                bundle.handle, DEVICES[device], ctypes.byref(self.handle))
        self.library.check(status, f"creating a {device} session")

    def set_stream(self, cu_stream):
        """Runs later work on `cu_stream` (a CUstream as int, e.g.
        torch.cuda.current_stream().cuda_stream; 0/None: legacy default)."""
        self.library.check(self.library.lib.moert_session_set_stream(
            self.handle, ctypes.c_void_p(cu_stream or None)), "moert_session_set_stream")

    def reset_stream(self):
        self.library.check(self.library.lib.moert_session_reset_stream(self.handle),
                           "moert_session_reset_stream")

    def run(self, function, inputs, outputs):
        """Runs `function` (index or name) on DLPack-capable tensors, inputs in
        manifest order; writes `outputs` in place. Tensors must be compact
        row-major (call .contiguous() first)."""
        if isinstance(function, str):
            function = self.bundle.find_function(function)
        ins = [to_dl(t) for t in inputs]
        outs = [to_dl(t) for t in outputs]
        in_array = (DLTensor * max(1, len(ins)))(*[dl for _, dl in ins])
        out_array = (DLTensor * max(1, len(outs)))(*[dl for _, dl in outs])
        self.library.check(self.library.lib.moert_session_run_dl(
            self.handle, function, in_array, len(ins), out_array, len(outs)),
            "moert_session_run_dl")
        del ins, outs  # the capsules: released after the call

    def close(self):
        if self.handle:
            self.library.lib.moert_session_release(self.handle)
            self.handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
