"""Resource by job size: the CPU twin measures the audio and hands long audio to the GPU class."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from modal_functions.modal_layer.sizing import audio_seconds, whisper_handoff

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg/ffprobe")


@pytest.fixture(scope="module")
def three_seconds(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3", str(path)], check=True)
    return path


class FetchCtx:
    def __init__(self, source: Path, workdir: Path):
        self.source, self.workdir = source, workdir

    def fetch_input(self, ref: str, suffix: str = "") -> Path:
        dest = self.workdir / "fetched.wav"
        shutil.copyfile(self.source, dest)
        return dest


def test_audio_length_is_measured(three_seconds, tmp_path):
    assert audio_seconds(three_seconds) == pytest.approx(3.0, abs=0.05)
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    assert audio_seconds(tmp_path / "junk.wav") is None


def test_long_audio_goes_to_the_gpu_short_stays(three_seconds, tmp_path):
    request = type("Req", (), {"audio": "artifacts/x.wav"})()
    ctx = FetchCtx(three_seconds, tmp_path)
    assert whisper_handoff(2.0)(request, ctx) == "Transcriber"
    assert whisper_handoff(10.0)(request, ctx) is None
    assert whisper_handoff(None)(request, ctx) is None
    assert not (tmp_path / "fetched.wav").exists()  # the probe cleans up after itself
