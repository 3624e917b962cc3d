#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into OUT/<target>/ from the
repository's tests and examples (nothing large is committed):

  ir            test/**/*.mlir and examples/*.mlir, split at `// -----`
  hf-import     examples/configs/*.json, test/Target/HFImport/Inputs/*.json,
                each also with a '#<byte>' option prefix (see FuzzHFImport.cpp)
  safetensors   small files of every dtype, metadata, empty tensors, gaps
  bundle        synthetic bundles, and, when --moe-translate is given, the
                manifest/schedule/reference of `moe-translate --moe-to-bundle`
                on examples/*.mlir with the kernel image cut to an ELF header;
                each also as bare JSON sections (see FuzzBundle.cpp)

plus the hand-made seeds of test/fuzz/corpus/<target>/.

usage: make-corpus.py ROOT OUT [--moe-translate PATH]
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile


def write(out_dir, data, stem=None):
    if isinstance(data, str):
        data = data.encode()
    name = stem or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(data)


def ir_seeds(root, out):
    files = sorted(glob.glob(os.path.join(root, "test", "**", "*.mlir"), recursive=True))
    files += sorted(glob.glob(os.path.join(root, "examples", "*.mlir")))
    for path in files:
        text = open(path, encoding="utf-8").read()
        for chunk in text.split("// -----"):
            if chunk.strip():
                write(out, chunk)


def hf_seeds(root, out):
    files = sorted(glob.glob(os.path.join(root, "examples", "configs", "*.json")))
    files += sorted(glob.glob(os.path.join(root, "test", "Target", "HFImport", "Inputs", "*.json")))
    for path in files:
        data = open(path, "rb").read()
        write(out, data)
        for pick in (0x00, 0x13, 0xF3, 0x40):  # option overrides
            write(out, b"#" + bytes([pick]) + data)


def safetensors_bytes(tensors, metadata=None, pad=True, gap=0):
    header, blobs, offset = {}, [], gap
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"\0" * gap + b"".join(blobs)


def safetensors_seeds(out):
    f32 = struct.pack("<6f", 1.5, -2.0, 3.25, 0.0, 1e-30, 7.0)
    write(out, safetensors_bytes([("w", "F32", [2, 3], f32)]))
    write(out, safetensors_bytes([("w", "F32", [2, 3], f32)], {"format": "pt"}))
    write(out, safetensors_bytes([
        ("layer.a", "BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
        ("b", "I64", [3, 1], struct.pack("<3q", -1, 1 << 40, 3)),
        ("c", "BOOL", [3], b"\x01\x00\x01"),
        ("d", "U8", [2], b"\x07\x08"),
        ("e", "I8", [1], b"\xff"),
        ("f", "I32", [1], struct.pack("<i", -5)),
        ("g", "F16", [0, 4], b""),
        ("s", "F64", [], struct.pack("<d", 2.5)),
    ], {"k": "v"}))
    write(out, safetensors_bytes([("a", "U8", [2], b"\x05\x06")], gap=4))
    write(out, safetensors_bytes([], {"format": "pt"}))
    write(out, safetensors_bytes([], None, pad=False))


# --- bundles (layout: runtime/include/moert/bundle_format.h) ---------------

MANIFEST, KERNELS, SCHEDULE, REFERENCE = 1, 2, 3, 4
# e_ident (class 64, little-endian, version 1), e_type ET_DYN, e_machine x86-64.
TINY_ELF = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HH", 3, 62)).ljust(64, b"\0")


def bundle_bytes(sections, target=b"cpu-x86_64"):
    """sections: list of (kind, bytes)."""
    table_end = 64 + 24 * len(sections)
    offset = (table_end + 63) // 64 * 64
    entries, body = [], b""
    for kind, data in sections:
        entries.append(struct.pack("<IIQQ", kind, 0, offset, len(data)))
        body += data
        pad = (-len(data)) % 64
        body += b"\0" * pad
        offset += len(data) + pad
    body_start = (table_end + 63) // 64 * 64
    size = body_start + len(body)
    header = b"MOEBNDL1" + struct.pack("<IIQII", 1, len(sections), size, 0, 0)
    header += target.ljust(32, b"\0")
    table = b"".join(entries)
    return header + table + b"\0" * (body_start - table_end) + body


def read_bundle(data):
    count = struct.unpack_from("<I", data, 12)[0]
    sections = []
    for i in range(count):
        kind, _, offset, size = struct.unpack_from("<IIQQ", data, 64 + 24 * i)
        sections.append((kind, data[offset:offset + size]))
    return sections


def json_sections(by_kind):
    """The JSON-sections form FuzzBundle.cpp wraps into a bundle itself."""
    parts = [by_kind[MANIFEST], by_kind[SCHEDULE]]
    if REFERENCE in by_kind:
        parts.append(by_kind[REFERENCE])
    return b"\0".join(parts)


def synthetic_bundles(out):
    t = lambda shape: {"dtype": "f32", "shape": shape}
    manifest = {"target": "cpu-x86_64", "functions": [{
        "name": "mm", "symbol": "_mlir_ciface_mm",
        "inputs": [dict(name="x", **t([2, 3])), dict(name="w", **t([3, 4]))],
        "outputs": [dict(name="result0", **t([2, 4]))]}]}
    schedule = {"kernels": [{"symbol": "_mlir_ciface_mm",
                             "arguments": [t([2, 3]), t([3, 4])],
                             "results": [t([2, 4])]}],
                "programs": [{"function": "mm",
                              "buffers": [t([2, 3]), t([3, 4]), t([2, 4])],
                              "commands": [
                                  {"command": "allocate", "buffer": 0},
                                  {"command": "allocate", "buffer": 1},
                                  {"command": "bind_input", "input": 0, "buffer": 0},
                                  {"command": "bind_input", "input": 1, "buffer": 1},
                                  {"command": "call", "kernel": 0,
                                   "arguments": [0, 1], "results": [2]},
                                  {"command": "output", "output": 0, "buffer": 2}]}]}
    reference = {"programs": [{"function": "mm", "ops": []}]}
    js = lambda v: json.dumps(v).encode()
    write(out, bundle_bytes([(MANIFEST, js(manifest)), (KERNELS, TINY_ELF),
                             (SCHEDULE, js(schedule))]))
    write(out, bundle_bytes([(MANIFEST, js(manifest)), (KERNELS, TINY_ELF),
                             (SCHEDULE, js(schedule)), (REFERENCE, js(reference))]))
    write(out, json_sections({MANIFEST: js(manifest), SCHEDULE: js(schedule)}))
    write(out, json_sections({MANIFEST: js(manifest), SCHEDULE: js(schedule),
                              REFERENCE: js(reference)}))
    # Sections in another order.
    write(out, bundle_bytes([(SCHEDULE, js(schedule)), (MANIFEST, js(manifest)),
                             (KERNELS, TINY_ELF)]))
    # No functions.
    write(out, bundle_bytes([(MANIFEST, js({"target": "cpu-x86_64", "functions": []})),
                             (KERNELS, TINY_ELF),
                             (SCHEDULE, js({"kernels": [], "programs": []}))]))


def translated_bundles(root, out, moe_translate):
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(glob.glob(os.path.join(root, "examples", "*.mlir"))):
            target = os.path.join(tmp, "b")
            result = subprocess.run([moe_translate, "--moe-to-bundle", path, "-o", target],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if result.returncode != 0:
                print("make-corpus: no bundle from %s" % os.path.relpath(path, root))
                continue
            sections = [(kind, TINY_ELF if kind == KERNELS else data)
                        for kind, data in read_bundle(open(target, "rb").read())]
            write(out, bundle_bytes(sections))
            write(out, json_sections(dict(sections)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("out")
    parser.add_argument("--moe-translate")
    args = parser.parse_args()
    dirs = {}
    for target in ("ir", "hf-import", "safetensors", "bundle"):
        dirs[target] = os.path.join(args.out, target)
        shutil.rmtree(dirs[target], ignore_errors=True)
        os.makedirs(dirs[target])
        hand = os.path.join(args.root, "test", "fuzz", "corpus", target)
        for path in sorted(glob.glob(os.path.join(hand, "*"))):
            shutil.copy(path, dirs[target])
    ir_seeds(args.root, dirs["ir"])
    hf_seeds(args.root, dirs["hf-import"])
    safetensors_seeds(dirs["safetensors"])
    synthetic_bundles(dirs["bundle"])
    if args.moe_translate:
        translated_bundles(args.root, dirs["bundle"], args.moe_translate)
    for target, path in dirs.items():
        print("make-corpus: %-12s %4d seeds" % (target, len(os.listdir(path))))


if __name__ == "__main__":
    main()
