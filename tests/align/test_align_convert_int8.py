"""A CTranslate2 model converted with `--quantization int8` (or int16) stores its linear weights as
integers with a `weight_scale` beside them. The openai-whisper conversion cast those integers to
float16 as they were, so openai-whisper on such an installed model ran on weights ~100x too large
and wrote garbage, with no error."""

import numpy as np
import pytest

from modal_functions.align.convert import bundled_ct2_dir, map_state_dict
from modal_functions.align.ct2_reader import read_ct2_model


def _quantized(variables: dict, kind: str) -> dict:
    """CTranslate2's own quantization (specs/model_spec.py `_quantize`) of every linear layer's weight."""
    out = dict(variables)
    for name, value in variables.items():
        if "linear_" not in name or not name.endswith("/weight"):
            continue
        value = value.astype(np.float32)
        if kind == "int16":
            scale = np.float32(2**10 / np.amax(np.absolute(value)))
            out[name] = np.clip(np.rint(value * scale), -32768, 32767).astype(np.int16)
        else:
            amax = np.amax(np.absolute(value), axis=1)
            amax[amax == 0] = 127.0
            scale = (127.0 / amax).astype(np.float32)
            out[name] = np.rint(value * scale[:, None]).astype(np.int8)
        out[name + "_scale"] = scale
    return out


@pytest.mark.parametrize("kind", ["int8", "int16"])
def test_quantized_weights_are_dequantized(kind):
    _, variables = read_ct2_model(bundled_ct2_dir() / "model.bin")
    dims, want = map_state_dict(variables)
    qdims, got = map_state_dict(_quantized(variables, kind))
    assert qdims == dims and set(got) == set(want)
    for name in want:
        assert got[name].dtype == np.float16
        step = float(np.abs(want[name].astype(np.float32)).max()) / (127 if kind == "int8" else 2**10) + 1e-3
        assert np.abs(got[name].astype(np.float32) - want[name].astype(np.float32)).max() <= step, name
