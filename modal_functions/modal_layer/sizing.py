"""# Resource by job size (seed 001): Whisper on the GPU only for long audio

The backend knows a job's size only when the request says so (`duration_s`, if the
contract carries it). Otherwise the job starts on `TranscriberCPU`, which measures the
fetched audio with ffprobe before doing anything else and, when the audio is at
least `gpu_min_audio_seconds` long, hands the job to the GPU class `Transcriber`
(the backend respawns it there; the probe is not counted as an attempt).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

PROBE_TIMEOUT_S = 30


def audio_seconds(path: Path) -> float | None:
    """Container duration from ffprobe, or None when it cannot tell (the job then stays here)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    try:
        done = subprocess.run(
            [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
        )
        return float(json.loads(done.stdout)["format"]["duration"])
    except (subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return None


def whisper_handoff(threshold: float | None, gpu_object: str = "Transcriber") -> Callable[[Any, Any], str | None]:
    """For the CPU twin: the GPU object's name when the job's audio is long enough to deserve it."""

    def decide(request: Any, ctx: Any) -> str | None:
        if threshold is None:
            return None
        path = ctx.fetch_input(request.audio)
        try:
            seconds = audio_seconds(path)
        finally:
            path.unlink(missing_ok=True)
        return gpu_object if seconds is not None and seconds >= threshold else None

    return decide
