"""Output verification with ffprobe, before a render is reported done.

Checks the video codec, the resolution, a duration within one frame of the timeline
and that there is an audio stream, ending within one AAC frame of the timeline. A mismatch is a failed render (never a silent
"success" with a broken file).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import CapabilityError
from .timeline import Geometry

BAD_OUTPUT = "bad_output"
PROBE_TIMEOUT_S = 60.0
AUDIO_SLACK_S = 0.002  # the MP4 edit list counts in the movie's milliseconds


@dataclass(frozen=True)
class Probe:
    video_codec: str
    width: int
    height: int
    duration_s: float
    frames: int | None
    audio_codec: str | None
    pix_fmt: str | None
    audio_duration_s: float | None = None
    audio_sample_rate: int | None = None


def probe(path: Path) -> Probe:
    try:
        proc = subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        # a machine too busy for a few seconds of ffprobe: a fresh attempt may get through
        raise CapabilityError(BAD_OUTPUT, f"ffprobe did not read the render within {PROBE_TIMEOUT_S:g} s", retryable=True, http_status=500) from e
    if proc.returncode != 0:
        raise CapabilityError(BAD_OUTPUT, f"ffprobe cannot read the render: {proc.stderr.strip()[-500:]}", http_status=500)
    data = json.loads(proc.stdout)
    video = next((s for s in data.get("streams", []) if s.get("codec_type") == "video"), None)
    audio = next((s for s in data.get("streams", []) if s.get("codec_type") == "audio"), None)
    if video is None:
        raise CapabilityError(BAD_OUTPUT, "the render has no video stream", http_status=500)
    duration = float(video.get("duration") or data.get("format", {}).get("duration") or 0.0)
    frames = int(video["nb_frames"]) if str(video.get("nb_frames", "")).isdigit() else None
    return Probe(
        video_codec=video.get("codec_name", ""),
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        duration_s=duration,
        frames=frames,
        audio_codec=audio.get("codec_name") if audio else None,
        pix_fmt=video.get("pix_fmt"),
        audio_duration_s=_float(audio.get("duration")) if audio else None,
        audio_sample_rate=_sample_rate(audio),
    )


def _sample_rate(audio: dict | None) -> int | None:
    rate = _float(audio.get("sample_rate")) if audio else None
    return int(rate) if rate else None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def verify_output(path: Path, geo: Geometry, *, codec: str = "h264", audio: bool = True) -> Probe:
    """Raise `bad_output` unless the file matches the timeline's geometry."""
    p = probe(path)
    problems = []
    if p.video_codec != codec:
        problems.append(f"codec {p.video_codec!r}, expected {codec!r}")
    if (p.width, p.height) != (geo.width, geo.height):
        problems.append(f"size {p.width}x{p.height}, expected {geo.width}x{geo.height}")
    expected_s = geo.frames / geo.fps
    if abs(p.duration_s - expected_s) > 1.0 / geo.fps + 1e-6:
        problems.append(f"duration {p.duration_s:.3f}s, expected {expected_s:.3f}s within one frame")
    if audio and not p.audio_codec:
        problems.append("no audio stream")
    elif audio and p.audio_duration_s is not None:
        # AAC comes in frames of 1024 samples: the last one is padded, so the track may end up to a
        # frame after the video (the encoder's delay at the start is skipped by the edit list)
        aac_frame_s = 1024 / (p.audio_sample_rate or 48000)
        if abs(p.audio_duration_s - expected_s) > aac_frame_s + AUDIO_SLACK_S:
            problems.append(f"audio duration {p.audio_duration_s:.3f}s, expected {expected_s:.3f}s within one AAC frame")
    if problems:
        raise CapabilityError(BAD_OUTPUT, "render verification failed: " + "; ".join(problems), http_status=500)
    return p
