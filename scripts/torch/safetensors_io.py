"""The safetensors files of our run directories, read and written with the standard library.

Layout: an 8-byte little-endian header length, the JSON header (padded with spaces to a
multiple of 8) naming each tensor's dtype, shape and byte range, then the raw
little-endian C-order data. We write F32 only (what the trainer writes) and read F32,
F16 and F64, as the trainer does.
"""

import json
import os
import struct
import sys

import torch

_READ = {"F32": torch.float32, "F16": torch.float16, "F64": torch.float64}


def read_safetensors(path):
    """(tensors by name as float32 CPU tensors, metadata dict). Errors name the file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
    except (OSError, ValueError, struct.error) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e
    metadata = header.pop("__metadata__", {}) or {}
    out = {}
    for name, entry in header.items():
        dtype = _READ.get(entry.get("dtype"))
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has dtype {entry.get('dtype')}")
        begin, end = entry["data_offsets"]
        if 8 + n + end > len(raw):
            raise ValueError(f"{path}: tensor {name} runs past the end of the file (truncated?)")
        buf = bytearray(raw[8 + n + begin:8 + n + end])
        t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(entry["shape"]).float()
    return out, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name -> tensor, in order) as F32, atomically (temp file, fsync, rename)."""
    assert sys.byteorder == "little"
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
