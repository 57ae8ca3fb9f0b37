"""A bundle build or an ffprobe that hangs past its timeout is a coded, retryable error.

Both let `subprocess.TimeoutExpired` out: the job ended `internal` (final, never retried),
with the command line as its message, although a slow moment of the machine is exactly
what a fresh attempt gets past. The stand-ins here hang on a FIFO nobody writes to.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modal_functions.errors import CapabilityError
from modal_functions.render import project, verify
from modal_functions.render.timeline import Geometry


@pytest.fixture
def hanging(tmp_path, monkeypatch):
    """`hanging(name)`: an executable `name` first on PATH that blocks until it is killed."""
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def make(name: str) -> Path:
        exe = bin_dir / name
        exe.write_text(f"#!/bin/sh\nexec cat {fifo}\n")  # opening a FIFO with no writer blocks
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
        return exe

    return make


def test_an_ffprobe_that_hangs_is_a_retryable_bad_output(hanging, tmp_path, monkeypatch):
    hanging("ffprobe")
    monkeypatch.setattr(verify, "PROBE_TIMEOUT_S", 0.5)
    video = tmp_path / "render.mp4"
    video.write_bytes(b"\0" * 64)
    with pytest.raises(CapabilityError) as e:
        verify.verify_output(video, Geometry(width=640, height=360, fps=24, frames=24))
    assert e.value.code == "bad_output" and e.value.retryable, (e.value.code, e.value.message)
    assert "ffprobe" in e.value.message and str(tmp_path) not in e.value.message


@pytest.mark.skipif(not (project.PROJECT_DIR / "node_modules" / "@remotion" / "renderer").is_dir()
                    or not Path(project.BROWSER).exists(), reason="Remotion is not installed")
def test_a_bundle_build_that_hangs_is_a_retryable_coded_error(hanging, tmp_path, monkeypatch):
    hanging("node")
    monkeypatch.setattr(project, "BUNDLE_TIMEOUT_S", 0.5)
    with pytest.raises(CapabilityError) as e:
        project.build_bundle(tmp_path / "bundle")
    assert e.value.code == "internal" and e.value.retryable, (e.value.code, e.value.message)
    assert "bundl" in e.value.message
