"""# Production Whisper weights on the Volume

The Whisper classes never download at cold start: their weights are on the app's
Volume, where the alignment code looks for them (`CANVASCAST_DATA_DIR=/cache`, so
`/cache/models/ct2-<model>/model.bin`, see `align.engines.load_engine`). Fill it once
before the first deploy, in either of two ways:

- from a local CTranslate2 model directory (no Hub access needed on Modal):
  `canvascast modal upload-weights --from ./ct2-large-v3 --model large-v3`
- from the Hugging Face Hub, inside Modal:
  `canvascast modal upload-weights --model large-v3 --remote`
  (= `modal run -m modal_functions.modal_layer.app::upload_weights --model large-v3`).

Jobs pick the model with `"model": "<name>"` in the transcribe_audio input.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

PRODUCTION_MODEL = "large-v3"
# CTranslate2 conversions of the Whisper checkpoints that faster-whisper publishes.
HUB_REPOS = {
    "large-v3": "Systran/faster-whisper-large-v3",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "medium.en": "Systran/faster-whisper-medium.en",
    "small.en": "Systran/faster-whisper-small.en",
    "base.en": "Systran/faster-whisper-base.en",
}
REQUIRED_FILES = ("model.bin", "config.json")
WEIGHT_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json", "preprocessor_config.json")


def volume_dir(model: str) -> PurePosixPath:
    """Where a model lives on the Volume (relative to its root)."""
    if not model or "/" in model or model.startswith("."):
        raise ValueError(f"bad model name {model!r}")
    return PurePosixPath("/models") / f"ct2-{model}"


def plan_upload(source: Path, model: str) -> list[tuple[Path, PurePosixPath]]:
    """(local file, Volume path) for every weight file of a local CTranslate2 model directory."""
    source = Path(source)
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source} is not a CTranslate2 Whisper model: missing {', '.join(missing)}")
    dest = volume_dir(model)
    return [(source / name, dest / name) for name in WEIGHT_FILES if (source / name).is_file()]


def upload_local(volume: Any, source: Path, model: str, *, on_file=None) -> list[str]:
    """Upload a local model directory with `volume.batch_upload(force=True)`; returns the Volume paths.

    One batch per file: a batch uploads when it closes, so `on_file` (a progress bar)
    fires when the file is really on the Volume.
    """
    plan = plan_upload(source, model)
    for local, remote in plan:
        with volume.batch_upload(force=True) as batch:
            batch.put_file(local, str(remote))
        if on_file is not None:
            on_file(local, remote)
    return [str(remote) for _local, remote in plan]


def download_into(cache_dir: str, model: str, revision: str | None = None) -> dict[str, Any]:
    """Inside Modal: fetch the model from the Hub into the mounted Volume (call `volume.commit()` after)."""
    from huggingface_hub import snapshot_download

    repo = HUB_REPOS.get(model)
    if repo is None:
        raise ValueError(f"unknown model {model!r}; known: {sorted(HUB_REPOS)}")
    target = Path(cache_dir) / volume_dir(model).relative_to("/")
    snapshot_download(repo, revision=revision, local_dir=target, allow_patterns=list(WEIGHT_FILES))
    missing = [name for name in REQUIRED_FILES if not (target / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{repo} did not provide {missing}")
    return {"model": model, "repo": repo, "revision": revision, "path": str(target), "files": sorted(p.name for p in target.iterdir())}


def link_models(data_dir: str | Path, volume_root: str | Path) -> Path:
    """A writable data dir whose `models/` is the Volume's (the front door: read-only Volume).

    The submission checks look for `<data dir>/models/ct2-<model>/model.bin`; everything
    else the front door writes under its data dir (upload spools) stays on container disk.
    """
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    link = data / "models"
    if not link.is_symlink() and not link.exists():
        link.symlink_to(Path(volume_root) / "models", target_is_directory=True)
    return link
