"""render_video through the real in-house runtime: pool worker, warm sidecar, artifact store."""

from __future__ import annotations

import pytest

from modal_functions.errors import CapabilityError


@pytest.fixture
def backend(tmp_path, render_state, monkeypatch):
    from modal_functions.config import get_config
    from modal_functions.runtime.inhouse import InHouseBackend
    from modal_functions.settings import Settings

    # Reuse the bundle the session already built instead of building one in the new data dir.
    from modal_functions.settings import get_settings

    monkeypatch.setenv("REMOTION_BUNDLE_DIR", str(render_state.bundle))
    # Submission checks (artifact keys exist) read the process's settings, as in a server.
    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"))
    b = InHouseBackend(get_config(), settings, kinds=["render_video"])
    yield b, settings
    b.close()
    get_settings.cache_clear()


def test_render_job_runs_on_a_pool_worker_and_returns_an_artifact(backend, assets):
    from modal_functions.storage import get_store

    b, settings = backend
    store = get_store(settings)
    red = store.put_file(assets["red"], ".png", "image/png")
    blue = store.put_file(assets["blue"], ".png", "image/png")
    narration = store.put_file(assets["narration"], ".wav", "audio/wav")
    timeline = {
        "resolution": 360, "fps": 24, "durationMs": 1000, "narration": narration.key,
        "scenes": [{"image": red.key, "startMs": 0, "endMs": 500}, {"image": blue.key, "startMs": 500, "endMs": 1000}],
    }
    job = b.submit("render_video", {"timeline": timeline})
    job = b.wait(job.id, timeout=240)
    assert job.status.value == "succeeded", job.error.message if job.error else None
    assert job.progress.unit == "frames" and job.progress.done == job.progress.total == 24
    assert job.result["frames"] == 24 and store.exists(job.result["video"]["key"])


def test_bad_timeline_is_refused_at_submission(backend):
    b, _ = backend
    timeline = {"durationMs": 1000, "scenes": [
        {"image": "artifacts/a.png", "startMs": 0, "endMs": 700}, {"image": "artifacts/b.png", "startMs": 600, "endMs": 1000}]}
    with pytest.raises(CapabilityError) as e:
        b.submit("render_video", {"timeline": timeline})
    assert e.value.code == "invalid_timeline" and e.value.http_status == 422


def test_chunks_spread_over_the_render_pools_idle_workers(backend, assets, tmp_path, caplog):
    """`chunks: 2` in the pool: one chunk on the job's worker, the other on the idle worker; same output as one render."""
    import logging

    import numpy as np
    from modal_functions.runtime.testing import workers_where
    from modal_functions.storage import get_store
    from render_support import decode_audio, ffprobe
    from test_chunks import _psnr

    b, settings = backend
    store = get_store(settings)
    keys = {name: store.put_file(assets[name], ".png", "image/png").key for name in ("red", "green")}
    narration = store.put_file(assets["narration"], ".wav", "audio/wav").key
    timeline = {
        "resolution": 360, "fps": 24, "durationMs": 2000, "narration": narration, "title": "Pool", "titleMs": 500,
        "scenes": [{"image": keys["red"], "startMs": 0, "endMs": 1000}, {"image": keys["green"], "startMs": 1000, "endMs": 2000, "transition": "slide"}],
        "captions": [{"text": w, "startMs": 100 + 400 * i, "endMs": 450 + 400 * i} for i, w in enumerate("one two three four".split())],
    }
    b.warm(["render_video"], ttl_s=300)
    workers_where(b, "render_video", 2, timeout=180)

    caplog.set_level(logging.INFO, logger="canvascast.pool")
    chunked = b.wait(b.submit("render_video", {"timeline": timeline, "chunks": 2}).id, timeout=240)
    assert chunked.status.value == "succeeded", chunked.error.message if chunked.error else None
    assert chunked.result["chunks"] == 2 and chunked.result["frames"] == 48
    assert (chunked.progress.done, chunked.progress.total, chunked.progress.unit) == (48, 48, "frames")
    parts = [r for r in caplog.records if r.getMessage() == "part finished" and r.job_id.startswith(f"{chunked.id}:part-")]
    assert [p.status for p in parts] == ["succeeded"], "the second chunk ran on the pool's other worker"

    single = b.wait(b.submit("render_video", {"timeline": timeline}).id, timeout=240)
    assert single.status.value == "succeeded" and single.result["chunks"] == 1
    a, c = tmp_path / "single.mp4", tmp_path / "chunked.mp4"
    store.get_to_file(single.result["video"]["key"], a)
    store.get_to_file(chunked.result["video"]["key"], c)
    assert [s["nb_frames"] for s in ffprobe(c)["streams"] if s["codec_type"] == "video"] == ["48"]
    assert _psnr(a, c) >= 45.0
    assert np.array_equal(decode_audio(a), decode_audio(c))
    assert b.tempdirs.live() == []
