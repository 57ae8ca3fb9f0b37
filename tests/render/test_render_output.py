"""Short timelines rendered by the warm sidecar, checked with ffprobe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modal_functions.errors import CapabilityError

from render_support import ffprobe

ROOT = Path(__file__).resolve().parents[2]


def timeline(assets, **over) -> dict:
    t = {
        "aspectRatio": "16:9",
        "resolution": 360,
        "fps": 24,
        "durationMs": 2000,
        "title": "Title card",
        "titleMs": 800,
        "scenes": [
            {"image": str(assets["red"]), "startMs": 0, "endMs": 1000},
            {"image": str(assets["blue"]), "startMs": 1000, "endMs": 2000, "transition": "fade"},
        ],
        "narration": str(assets["narration"]),
        "music": str(assets["music"]),
        "captions": [{"text": "hello", "startMs": 200, "endMs": 600}, {"text": "there", "startMs": 700, "endMs": 1200}],
    }
    t.update(over)
    return t


@pytest.mark.parametrize("aspect,size", [("16:9", (640, 360)), ("1:1", (360, 360))])
def test_render_is_a_verified_mp4_artifact(run_render, store, assets, tmp_path, aspect, size):
    result, progress, _ = run_render({"timeline": timeline(assets, aspectRatio=aspect)})
    assert (result.width, result.height, result.fps, result.frames, result.chunks) == (*size, 24, 48, 1)
    out = tmp_path / "out.mp4"
    store.get_to_file(result.video.key, out)
    assert result.video.content_type == "video/mp4" and result.video.key.endswith(".mp4")
    info = ffprobe(out)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert video["codec_name"] == "h264" and (video["width"], video["height"]) == size
    assert abs(float(video["duration"]) - 2.0) <= 1 / 24
    assert audio and audio[0]["codec_name"] == "aac"
    # progress is in frames, never goes backwards and ends at the total
    frames = [p for p in progress if p.unit == "frames"]
    assert frames and all(p.total == 48 for p in frames)
    assert [p.done for p in frames] == sorted(p.done for p in frames)
    assert frames[-1].done == 48


def test_missing_local_asset_fails_before_rendering(run_render, render_state, assets, tmp_path):
    spawns = render_state.sidecar.spawns
    with pytest.raises(CapabilityError) as e:
        run_render({"timeline": timeline(assets, music=str(tmp_path / "nope.mp3"))})
    assert e.value.code == "missing_asset" and 400 <= e.value.http_status < 500 and "music" in e.value.message
    assert render_state.sidecar.spawns == spawns
    assert not any(render_state.sidecar.serve_dir.iterdir()), "staged assets must be removed on failure"


def test_corrupt_image_fails_before_rendering(run_render, render_state, assets, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    body = timeline(assets)
    body["scenes"][1]["image"] = str(bad)
    with pytest.raises(CapabilityError) as e:
        run_render({"timeline": body})
    assert e.value.code == "bad_asset" and e.value.http_status == 422 and "scenes[1]" in e.value.message
    assert not any(render_state.sidecar.serve_dir.iterdir())


@pytest.mark.parametrize("size", [(70_000, 70_000), (10_000, 6_000)])  # a decompression bomb; over the 50 MP cap
def test_huge_image_is_a_bad_asset_not_an_internal_error(run_render, assets, tmp_path, size):
    huge = tmp_path / f"huge-{size[0]}.png"
    from modal_functions.runtime.testing import png_header

    huge.write_bytes(png_header(*size))
    body = timeline(assets)
    body["scenes"][0]["image"] = str(huge)
    with pytest.raises(CapabilityError) as e:
        run_render({"timeline": body})
    assert e.value.code == "bad_asset" and e.value.http_status == 422 and "scenes[0]" in e.value.message


def test_audio_file_without_audio_is_rejected(run_render, assets, tmp_path):
    bad = tmp_path / "silence.mp3"
    bad.write_bytes(b"ID3 not audio at all")
    with pytest.raises(CapabilityError) as e:
        run_render({"timeline": timeline(assets, narration=str(bad))})
    assert e.value.code == "bad_asset" and "narration" in e.value.message


def test_cli_renders_a_timeline_with_relative_paths(render_state, assets, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("red", "blue", "narration", "music"):
        (folder / assets[name].name).write_bytes(assets[name].read_bytes())
    t = timeline(assets, aspectRatio="9:16", durationMs=1000, fps=24, title=None, captions=[])
    t["scenes"] = [{"image": "red.png", "startMs": 0, "endMs": 500}, {"image": "blue.png", "startMs": 500, "endMs": 1000}]
    t["narration"], t["music"] = "narration.wav", "music.mp3"
    (folder / "timeline.json").write_text(json.dumps(t))
    out = tmp_path / "cli.mp4"
    env = {**os.environ, "CANVASCAST_DATA_DIR": str(ROOT / ".canvascast")}
    proc = subprocess.run(
        [sys.executable, "-m", "modal_functions.cli", "render", str(folder / "timeline.json"), "-o", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote" in proc.stdout and "360x640" in proc.stdout
    info = ffprobe(out)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (360, 640)


def test_cli_reports_a_bad_timeline_without_rendering(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps({"durationMs": 1000, "scenes": [
        {"image": "a.png", "startMs": 0, "endMs": 800}, {"image": "b.png", "startMs": 500, "endMs": 1000}]}))
    proc = subprocess.run(
        [sys.executable, "-m", "modal_functions.cli", "render", str(tmp_path / "t.json"), "-o", str(tmp_path / "o.mp4")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and "invalid_timeline" in proc.stderr


def test_music_is_ducked_under_the_spoken_words(run_render, store, assets, tmp_path):
    """440 Hz music at 0.25, ducked to 0.08 while a word is spoken; narration is a 200 Hz tone."""
    import subprocess

    import numpy as np

    from render_support import decode_audio

    narration, music = tmp_path / "n.wav", tmp_path / "m.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", str(narration), "synth", "3", "sine", "200", "vol", "0.3"], check=True)
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", str(music), "synth", "3", "sine", "440", "vol", "0.8"], check=True)
    t = timeline(assets, durationMs=3000, title=None, narration=str(narration), music=str(music),
                 musicVolume=0.25, musicDuckedVolume=0.08,
                 captions=[{"text": "one", "startMs": 300, "endMs": 1000}, {"text": "two", "startMs": 2000, "endMs": 2700}])
    t["scenes"] = [{"image": str(assets["red"]), "startMs": 0, "endMs": 3000}]
    result, _, _ = run_render({"timeline": t})
    out = tmp_path / "duck.mp4"
    store.get_to_file(result.video.key, out)
    pcm = decode_audio(out)[:, 0].astype(np.float64)

    def level(start_ms: float, end_ms: float, hz: float) -> float:
        a, b = int(start_ms * 48), int(end_ms * 48)
        x = pcm[a:b]
        tt = np.arange(a, b) / 48000.0
        return float(np.hypot((x * np.sin(2 * np.pi * hz * tt)).mean(), (x * np.cos(2 * np.pi * hz * tt)).mean()))

    spoken = level(450, 850, 440)
    gap = level(1350, 1650, 440)  # more than the 250 ms ramp away from both words
    assert spoken / gap == pytest.approx(0.08 / 0.25, abs=0.06)
    assert level(450, 850, 200) > 0.5 * level(1350, 1650, 200)  # narration itself is not ducked
