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
