# Writes a bundle from the sections of another and/or from files, laid out as
# moe-translate does (runtime/include/moert/bundle_format.h):
#   write-bundle.py OUT [--from BUNDLE] [--target T] [--manifest F]
#                   [--schedule F] [--kernels F] [--reference F]
# Files replace the sections of --from; --target sets the header's target and
# the manifest's "target" (e.g. a cpu bundle retargeted to cuda-sm_90a).
import argparse
import json
import struct

MAGIC, VERSION, HEADER, ENTRY, ALIGN = b"MOEBNDL1", 1, 64, 24, 64
KINDS = {"manifest": 1, "kernels": 2, "schedule": 3, "reference": 4}

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--from", dest="source")
parser.add_argument("--target")
for name in KINDS:
    parser.add_argument("--" + name)
args = parser.parse_args()

sections, target = {}, None
if args.source:
    data = open(args.source, "rb").read()
    assert data[:8] == MAGIC, "not a bundle"
    _, _, count, _, _, _, raw = struct.unpack_from("<8sIIQII32s", data, 0)
    target = raw.split(b"\0")[0].decode()
    for i in range(count):
        kind, _, offset, size = struct.unpack_from("<IIQQ", data, HEADER + i * ENTRY)
        sections[kind] = data[offset:offset + size]
for name, kind in KINDS.items():
    path = getattr(args, name)
    if path:
        sections[kind] = open(path, "rb").read()
if args.target:
    target = args.target
    manifest = json.loads(sections[KINDS["manifest"]])
    manifest["target"] = target
    sections[KINDS["manifest"]] = json.dumps(manifest).encode()
assert target, "no target: give --from or --target"

kinds = sorted(sections)
offset = HEADER + len(kinds) * ENTRY
table = []
for kind in kinds:
    offset = (offset + ALIGN - 1) // ALIGN * ALIGN
    table.append((kind, offset, len(sections[kind])))
    offset += len(sections[kind])
out = bytearray(offset)
struct.pack_into("<8sIIQII32s", out, 0, MAGIC, VERSION, len(kinds), offset, 0,
                 0, target.encode())
for i, (kind, at, size) in enumerate(table):
    struct.pack_into("<IIQQ", out, HEADER + i * ENTRY, kind, 0, at, size)
    out[at:at + size] = sections[kind]
open(args.out, "wb").write(bytes(out))
