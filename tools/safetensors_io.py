"""Writes a dict of PyTorch tensors as a .safetensors file (the format's header: an 8-byte
little-endian length, a JSON object of dtype, shape and data_offsets per tensor, padded to 8 bytes;
then the raw bytes), for the reference scripts in tools/, without the safetensors package; and reads
one back (bench/bench_step.py starts from taugrad's initial weights)."""
import json
import struct

import numpy
import torch

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """name -> CPU tensor, in file order (dtypes of DTYPES only)."""
    numpy_dtypes = {"F32": numpy.float32, "F64": numpy.float64, "I64": numpy.int64, "U8": numpy.uint8}
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header.pop("__metadata__", None)
    base, out = 8 + length, {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        array = numpy.frombuffer(data[base + begin:base + end], dtype=numpy_dtypes[info["dtype"]])
        out[name] = torch.from_numpy(array.copy()).reshape(info["shape"])
    return out
