# Writes a .safetensors file: make-safetensors.py OUT NAME:DTYPE:SHAPE:VALUES...
# SHAPE and VALUES are comma-separated ("" for a scalar's shape); DTYPE is a
# safetensors dtype (F32, I32, I64).
import json
import struct
import sys

formats = {"F32": "f", "I32": "i", "I64": "q", "F64": "d"}
header, blobs, offset = {}, [], 0
for spec in sys.argv[2:]:
    name, dtype, shape, values = spec.split(":")
    dims = [int(d) for d in shape.split(",")] if shape else []
    data = [float(v) if dtype.startswith("F") else int(v) for v in values.split(",")]
    blob = struct.pack("<%d%s" % (len(data), formats[dtype]), *data)
    header[name] = {"dtype": dtype, "shape": dims, "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as out:
    out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
