# Writes a safetensors file holding the DeepSeek-V3-shaped layer's selection
# bias ("bias", f32 [8]) that sends every token to experts 0 and 1: all rows
# go to EP rank 0, and the other ranks receive none.
import json
import struct
import sys

values = [100.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
data = struct.pack("<8f", *values)
header = json.dumps({"bias": {"dtype": "F32", "shape": [8],
                              "data_offsets": [0, len(data)]}}).encode()
header += b" " * (-len(header) % 8)
with open(sys.argv[1], "wb") as out:
    out.write(struct.pack("<Q", len(header)) + header + data)
