"""Chunked renders: same pictures and sound as a single render, chunks planned and retried."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from modal_functions.errors import CapabilityError
from modal_functions.render import chunks as chunks_mod
from modal_functions.render.chunks import plan_chunks

from render_support import decode_audio, ffprobe

FPS = 24
DURATION_MS = 3000


def _timeline(assets) -> dict:
    return {
        "aspectRatio": "16:9",
        "resolution": 360,
        "fps": FPS,
        "durationMs": DURATION_MS,
        "title": "Chunks",
        "titleMs": 700,
        "scenes": [
            {"image": str(assets["red"]), "startMs": 0, "endMs": 1400},
            {"image": str(assets["green"]), "startMs": 1400, "endMs": 3000, "transition": "slide"},
        ],
        "narration": str(assets["narration"]),
        "music": str(assets["music"]),
        "captions": [{"text": w, "startMs": 200 + 500 * i, "endMs": 600 + 500 * i} for i, w in enumerate("one two three four five".split())],
    }


def _psnr(a, b) -> float:
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-i", str(a), "-i", str(b), "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"],
                          capture_output=True, text=True)
    m = re.search(r"average:(inf|[0-9.]+)", proc.stderr)
    assert m, proc.stderr[-500:]
    return float("inf") if m.group(1) == "inf" else float(m.group(1))


def _pcm(path) -> bytes:
    """The audio track decoded in its own sample rate and channels, as float PCM bytes."""
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-f", "f32le", "-"], capture_output=True, check=True)
    assert proc.stdout
    return proc.stdout


def test_plan_chunks_from_frames_and_free_workers():
    assert plan_chunks(90, 4, fps=30) == [(0, 89)]  # 3 s: not worth splitting
    assert plan_chunks(1800, 1, fps=30) == [(0, 1799)]  # one free worker
    assert plan_chunks(1800, 4, fps=30) == [(0, 449), (450, 899), (900, 1349), (1350, 1799)]
    assert len(plan_chunks(1800, 64, fps=30)) == 6  # at least 10 s per chunk
    ranges = plan_chunks(101, 1, requested=3)
    assert ranges == [(0, 33), (34, 67), (68, 100)]  # equal chunks, the last one shorter


def test_chunked_render_matches_single_render(run_render, store, assets, tmp_path):
    single, _, _ = run_render({"timeline": _timeline(assets)})
    chunked, progress, _ = run_render({"timeline": _timeline(assets), "chunks": 2})
    assert (single.chunks, chunked.chunks) == (1, 2)
    a, b = tmp_path / "single.mp4", tmp_path / "chunked.mp4"
    store.get_to_file(single.video.key, a)
    store.get_to_file(chunked.video.key, b)

    va = next(s for s in ffprobe(a)["streams"] if s["codec_type"] == "video")
    vb = next(s for s in ffprobe(b)["streams"] if s["codec_type"] == "video")
    assert va["nb_frames"] == vb["nb_frames"] == str(FPS * DURATION_MS // 1000)
    assert _psnr(a, b) >= 45.0

    # Audio: the chunked output carries the same whole-timeline AAC encode as the single
    # render, so the decoded samples are identical, byte for byte.
    pa, pb = decode_audio(a), decode_audio(b)
    assert len(pa) == len(pb) >= 48000 * DURATION_MS // 1000
    assert np.abs(pa.astype(np.int32)).max() > 1000, "the test timeline has audible sound"
    assert np.array_equal(pa, pb), f"{int((pa != pb).any(axis=1).sum())} of {len(pa)} decoded samples differ"
    assert _pcm(a) == _pcm(b), "decoded audio (native format) differs between single and chunked renders"

    frames = [p for p in progress if p.unit == "frames"]
    assert frames[-1].done == frames[-1].total == FPS * DURATION_MS // 1000


def _short(assets) -> dict:
    t = _timeline(assets)
    t.update(durationMs=1500, captions=[], title=None)
    t["scenes"] = [{"image": str(assets["red"]), "startMs": 0, "endMs": 700}, {"image": str(assets["blue"]), "startMs": 700, "endMs": 1500}]
    return t


def test_a_failed_chunk_is_retried_alone(run_render, store, assets, tmp_path, monkeypatch):
    calls: list[int] = []
    real = chunks_mod.render_chunk
    failed = {"done": False}

    def flaky(spec, out_dir, **kw):
        calls.append(spec["index"])
        if spec["index"] == 1 and not failed["done"]:
            failed["done"] = True
            raise CapabilityError("sidecar_crashed", "simulated crash", retryable=True, http_status=500)
        return real(spec, out_dir, **kw)

    monkeypatch.setattr(chunks_mod, "render_chunk", flaky)
    result, _, _ = run_render({"timeline": _short(assets), "chunks": 2})
    assert result.chunks == 2
    assert sorted(calls) == [0, 1, 1], f"only the failed chunk runs again, got {calls}"


def test_chunks_that_keep_failing_fail_the_job(run_render, assets, monkeypatch):
    def broken(spec, out_dir, **kw):
        raise CapabilityError("render_failed", "always broken", http_status=500)

    monkeypatch.setattr(chunks_mod, "render_chunk", broken)
    with pytest.raises(CapabilityError) as e:
        run_render({"timeline": _short(assets), "chunks": 2})
    assert e.value.code == "render_failed"


def test_remote_chunk_mapper_drives_the_same_functions(run_render, render_state, store, assets, tmp_path):
    """The Modal path: JSON chunk specs mapped elsewhere, each fetching its own assets, then combined."""
    import json

    from modal_functions.render.chunks import RemoteChunks, render_chunk, set_remote_chunks
    from modal_functions.runtime.context import LocalTaskContext

    seen = []

    def fake_map(specs):
        results = []
        for spec in specs:
            spec = json.loads(json.dumps(spec))  # crosses a process boundary on Modal
            seen.append((spec["index"], tuple(spec["frameRange"]), spec["framesPerChunk"], spec["totalFrames"]))
            with LocalTaskContext(job_id=f"chunk-{spec['index']}", allow_local_paths=True) as ctx:
                results.append(render_chunk(spec, tmp_path / "volume", sidecar=render_state.sidecar, fetch=ctx.fetch_input))
        return results[::-1]  # any order

    set_remote_chunks(RemoteChunks(map=fake_map, free_workers=8))
    try:
        result, _, _ = run_render({"timeline": _short(assets), "chunks": 2})
    finally:
        set_remote_chunks(None)
    assert result.chunks == 2 and result.frames == 36
    assert seen == [(0, (0, 17), 18, 36), (1, (18, 35), 18, 36)]
    assert not any(render_state.sidecar.serve_dir.iterdir()), "each chunk removes the assets it staged"

    # The Modal path's soundtrack is the render container's whole-timeline audio render too.
    single, _, _ = run_render({"timeline": _short(assets)})
    a, b = tmp_path / "single.mp4", tmp_path / "remote.mp4"
    store.get_to_file(single.video.key, a)
    store.get_to_file(result.video.key, b)
    assert _pcm(a) == _pcm(b)
