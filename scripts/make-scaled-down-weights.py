#!/usr/bin/env python3
"""Writes a safetensors file with the down-projection weights
`layers.{i}.down` [E, H, F] of a stack of scripts/make-stacked-layers.py,
uniform in +-scale/sqrt(F): moe-run's random weights (scale 1) make each
layer's update tiny beside the residual stream (a few percent of its norm),
so a layer's input is almost the previous layer's, which flatters any
prediction of the next layer's routing from it. A larger scale makes the
layers change the hidden state as much as trained models do; bind the file
with `moe-run --weights FILE` (the other weights stay seeded random).
  scripts/make-scaled-down-weights.py --layers 6 --hidden 2048 --ffn 768 \\
      --experts 128 --scale 16 --dtype bf16 -o down.safetensors
"""
import argparse
import json
import struct

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("layers", "hidden", "ffn", "experts"):
        p.add_argument("--" + name, type=int, required=True)
    p.add_argument("--scale", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    if min(a.layers, a.hidden, a.ffn, a.experts) < 1 or a.scale <= 0:
        p.error("every size and the scale must be positive")
    generator = torch.Generator().manual_seed(a.seed)
    bound = a.scale / a.ffn ** 0.5
    dtype, name = ((torch.bfloat16, "BF16") if a.dtype == "bf16"
                   else (torch.float32, "F32"))
    header, blobs, offset = {}, [], 0
    for i in range(a.layers):
        w = (torch.rand(a.experts, a.hidden, a.ffn, generator=generator) * 2
             - 1) * bound
        # Raw little-endian bytes; bf16 through its 16-bit pattern (numpy
        # has no bf16).
        w = w.to(dtype)
        raw = (w.view(torch.int16) if dtype == torch.bfloat16 else w)
        blob = raw.contiguous().numpy().tobytes()
        header[f"layers.{i}.down"] = {
            "dtype": name, "shape": [a.experts, a.hidden, a.ffn],
            "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(a.output, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    main()
