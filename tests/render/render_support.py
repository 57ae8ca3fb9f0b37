"""Shared helpers for the render tests: tiny assets, a warm sidecar, frame decoding."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

HIGHLIGHT = (255, 0, 255)  # magenta: far from every scene colour below
SCENE_COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (30, 60, 220)}


def make_images(folder: Path) -> dict[str, Path]:
    from PIL import Image

    out = {}
    for name, rgb in SCENE_COLOURS.items():
        path = folder / f"{name}.png"
        Image.new("RGB", (320, 180), rgb).save(path)
        out[name] = path
    return out


def make_audio(folder: Path, seconds: float) -> tuple[Path, Path]:
    """A narration-like warble (mono) and a music-like chord (stereo), deterministic."""
    narration = folder / "narration.wav"
    music = folder / "music.mp3"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "1", str(narration), "synth", f"{seconds}", "sine", "200-500", "tremolo", "5", "70"], check=True)
    wav = folder / "music-src.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(wav), "synth", f"{seconds}", "sine", "330", "sine", "440", "vol", "0.6"], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", "96k", str(music)], check=True)
    return narration, music


def ffprobe(path: Path) -> dict:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout)


def decode_frames(path: Path, width: int, height: int) -> np.ndarray:
    """Every frame as uint8 RGB, shape (n, h, w, 3)."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    )
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, height, width, 3)


def decode_audio(path: Path) -> np.ndarray:
    """Decoded audio as int16 stereo at 48 kHz, shape (n, 2)."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-f", "s16le", "-ac", "2", "-ar", "48000", "-"],
        capture_output=True, check=True,
    )
    return np.frombuffer(proc.stdout, dtype=np.int16).reshape(-1, 2)


def process_tree(root: int) -> set[int]:
    """Every process below `root` now (children, their children, ...)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    pairs = [tuple(map(int, line.split())) for line in out.splitlines()]
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in pairs if ppid in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running: neither gone nor a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def red_scene_props(sc, seconds: float) -> tuple[dict, dict]:
    """Props and composition of one red scene (staged as red.png in `sc`'s serve dir) at 360p, 24 fps."""
    from modal_functions.contract.render import Timeline
    from modal_functions.render.timeline import check_timeline

    timeline = Timeline.model_validate({
        "resolution": 360, "fps": 24, "durationMs": seconds * 1000,
        "scenes": [{"image": f"{sc.base_url}/red.png", "startMs": 0, "endMs": seconds * 1000}],
    })
    return timeline.model_dump(mode="json"), check_timeline(timeline).composition()


def render_with_short_silence(sc, props, comp, output: Path, on_message=None) -> dict:
    """An h264 render through `sc` whose silence timeout is 30 s, not 90: a test whose sidecar
    goes quiet (a dead browser taken for a live one) fails in reasonable time instead."""
    return sc.request({"type": "render", "props": props, "output": str(output), "codec": "h264", "composition": comp,
                       "concurrency": 1}, on_message=on_message, silence_timeout=30)


# ## The render CLI with the capability faked (tests of what the CLI does around a render)


def write_cli_timeline(folder: Path) -> Path:
    """`t.json`: one scene of `a.png` (empty: a faked capability never reads it)."""
    (folder / "a.png").write_bytes(b"")
    timeline = {"resolution": 360, "fps": 24, "durationMs": 1000, "titleMs": 0, "scenes": [{"image": "a.png", "startMs": 0, "endMs": 1000}]}
    path = folder / "t.json"
    path.write_text(json.dumps(timeline))
    return path


def fake_render_capability(monkeypatch, run) -> None:
    """The CLI's render capability with `run` for its body, nothing to load or close."""
    import dataclasses

    from modal_functions.render import capability

    monkeypatch.setattr(capability, "CAPABILITY", dataclasses.replace(capability.CAPABILITY, load=lambda: None, run=run, close=lambda _s: None))


def tiny_video_run(_state, _request, ctx):
    """A capability body that 'renders' a few bytes of MP4 into the job's store."""
    from modal_functions.contract.render import RenderVideoResult

    video = ctx.store.put_bytes(b"\x00\x00\x00\x18ftypmp42", "mp4")
    return RenderVideoResult(video=video, durationMs=1000, frames=24, width=640, height=360, fps=24, chunks=1)
