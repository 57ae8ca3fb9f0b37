"""Read a CTranslate2 `model.bin` into numpy arrays (binary format version 6, as ctranslate2 writes it).

Layout (ctranslate2/specs/model_spec.py `_serialize`): u32 version, string spec name,
u32 revision, u32 n; n x (string name, u8 rank, u32 dims[rank], u8 dtype, u32 nbytes,
bytes); u32 m; m x (string alias, string target). Strings are u16 length (with NUL) + bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# Order of the DataType enum in ctranslate2/types.h.
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class _Cursor:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values[0] if len(values) == 1 else values

    def string(self) -> str:
        n = self.take("H")
        raw = self.data[self.pos : self.pos + n - 1]
        self.pos += n
        return raw.decode("utf-8")


def read_ct2_model(path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """Returns (spec name, {variable name: array}); aliases resolve to the same arrays."""
    cur = _Cursor(Path(path).read_bytes())
    version = cur.take("I")
    if version < 5:
        raise ValueError(f"CTranslate2 binary version {version} is not supported (need >= 5)")
    spec = cur.string()
    cur.take("I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(cur.take("I")):
        name = cur.string()
        rank = cur.take("B")
        dims = [cur.take("I") for _ in range(rank)]
        dtype = _DTYPES[cur.take("B")]
        nbytes = cur.take("I")
        if dtype == "bfloat16":
            raise ValueError(f"{name}: bfloat16 weights are not supported")
        arr = np.frombuffer(cur.data, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=cur.pos)
        cur.pos += nbytes
        variables[name] = arr.reshape(dims)
    for _ in range(cur.take("I")):
        alias, target = cur.string(), cur.string()
        variables[alias] = variables[target]
    return spec, variables
