"""Every Modal function body runs through `.local()` on a tiny input (no token, no network).

The bodies are thin: they hand the job to `runner.execute`, which runs the plain
capability under the runtime's watchdog and progress code. Off Modal the jobs Dict is
a plain dict (`app.jobs_dict()`), and the artifact store is the local one.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings

import pytest

from modal_functions.modal_layer import runner
from modal_functions.settings import get_settings

pytestmark = pytest.mark.filterwarnings("ignore:.*executing locally.*:UserWarning")


@pytest.fixture
def modal_app(tmp_path, monkeypatch):
    import modal_functions.modal_layer.app as module

    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(tmp_path / "data"))
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "IMAGE_API_BASE_URL", "IMAGE_FALLBACK", "ARTIFACT_STORE", "COMPUTE_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    saved = dict(runner._STATES)
    runner._STATES.clear()
    module._LOCAL_JOBS.clear()
    yield module
    runner._STATES.clear()
    runner._STATES.update(saved)
    get_settings.cache_clear()


def job(kind: str, job_id: str, **input):
    return {"job_id": job_id, "kind": kind, "input": input}


def test_diagnostic_body(modal_app):
    out = modal_app.diagnostic.local(job("diagnostic", "d1", action="succeed", payload="tiny"))
    assert out["ok"] and out["result"]["echo"] == "tiny" and out["attempt"] == 1
    assert out["resource"] == "cpu:0.25" and out["cold_start"] is True
    assert modal_app._LOCAL_JOBS["progress:d1"]["progress"]["done"] == 1  # progress through the Dict sink
    again = modal_app.diagnostic.local(job("diagnostic", "d2", action="fail"))
    assert again == {**again, "ok": False} and again["error"]["code"] == "diagnostic_failure"


def test_generate_images_body_uses_the_placeholder_without_credentials(modal_app):
    from modal_functions.storage import get_store

    out = modal_app.generate_images.local(job("generate_images", "i1", prompts=["a tiny fox"]))
    assert out["ok"], out
    item = out["result"]["images"][0]
    assert item["generator"] == "placeholder" and out["result"]["degraded"] is True
    assert get_store().exists(item["artifact"]["key"])


@pytest.mark.slow  # loads Whisper tiny.en: counted in the align budget
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng for a spoken clip")
def test_whisper_classes_align_a_tiny_clip(modal_app, tmp_path):
    from modal_functions.storage import get_store

    wav = tmp_path / "clip.wav"
    script = "Hello world, this is a tiny test."
    subprocess.run(["espeak-ng", "-w", str(wav), script], check=True, capture_output=True)
    ref = get_store().put_file(wav, ".wav", "audio/wav")
    for cls, job_id in ((modal_app.TranscriberCPU, "a1"), (modal_app.Transcriber, "a2")):
        out = cls().run.local(job("transcribe_audio", job_id, audio=ref.key, script=script))
        assert out["ok"], out
        words = [w["text"].strip(" ,.").lower() for w in out["result"]["words"]]
        assert words[:2] == ["hello", "world"]
    assert out["resource"] == "A10G"  # the GPU class prices itself as such (runs on CPU here)


def test_api_body_builds_the_same_fastapi_app_on_the_modal_backend(modal_app):
    from fastapi import FastAPI

    from modal_functions.modal_layer.backend import ModalBackend

    web = modal_app.api.local()
    assert isinstance(web, FastAPI)
    assert isinstance(web.state.backend, ModalBackend)
    paths = set(web.openapi()["paths"])
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/warm", "/health"} <= paths


@pytest.fixture(scope="module")
def remotion_bundle(tmp_path_factory):
    """One Remotion bundle for this module: an existing one for the current source, else built once."""
    from modal_functions.render import project

    for root in (get_settings().data_dir, project.Path(".canvascast")):
        candidate = project.Path(root).resolve() / "render" / f"bundle-{project.source_hash()}"
        if (candidate / "index.html").is_file():
            return candidate
    out = tmp_path_factory.mktemp("remotion") / "bundle"
    project.build_bundle(out)
    return out


@pytest.mark.slow  # starts chromium via the render sidecar: counted in the render budget
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian chromium")
def test_render_bodies_render_a_tiny_timeline_whole_and_in_chunks(modal_app, remotion_bundle, monkeypatch, tmp_path):
    import io

    from PIL import Image

    from modal_functions.contract.render import Timeline
    from modal_functions.modal_layer.chunks import drop_chunks
    from modal_functions.render.chunks import chunk_specs, combine, plan_chunks
    from modal_functions.render.sidecar import close_shared
    from modal_functions.storage import get_store

    monkeypatch.setenv("REMOTION_BUNDLE_DIR", str(remotion_bundle))
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(tmp_path / "volume" / "chunks"))
    buf = io.BytesIO()
    Image.new("RGB", (640, 360), (30, 90, 200)).save(buf, "PNG")
    image = get_store().put_bytes(buf.getvalue(), ".png", "image/png")
    timeline = {"resolution": 360, "fps": 24, "durationMs": 500, "titleMs": 0, "scenes": [{"image": image.key, "startMs": 0, "endMs": 500}]}
    try:
        out = modal_app.render_video.local(job("render_video", "r1", timeline=timeline))
        assert out["ok"], out
        assert out["result"]["frames"] == 12 and out["resource"] == "cpu:8"
        assert get_store().exists(out["result"]["video"]["key"])

        # the .map path: two chunk bodies write to the Volume's chunk dir, then they are joined
        specs = chunk_specs("r2", Timeline.model_validate(timeline), plan_chunks(12, 2, fps=24, requested=2))
        parts = [modal_app.render_chunk.local(spec) for spec in specs]
        assert [p["index"] for p in parts] == [0, 1]
        assert all(str(tmp_path / "volume" / "chunks" / "r2") in p["video"] for p in parts)
        joined = combine(parts, tmp_path / "joined.mp4", fps=24, frames_per_chunk=specs[0]["framesPerChunk"], total_frames=12)
        assert joined.stat().st_size > 0

        # the job's end takes its chunk files off the Volume
        assert drop_chunks("r2") and not (tmp_path / "volume" / "chunks" / "r2").exists()
        assert not drop_chunks("r2")
    finally:
        runner._STATES.clear()
        close_shared()
