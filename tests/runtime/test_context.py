"""`RuntimeContext.fetch_input`: artifact keys, our own signed URLs, safe https, local paths only for the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

import modal_functions.storage.inputs as inputs
from modal_functions.contract.jobs import Progress
from modal_functions.errors import CapabilityError
from modal_functions.runtime.context import LocalTaskContext, RuntimeContext
from modal_functions.runtime.progress import CallbackSink
from modal_functions.settings import Settings
from modal_functions.storage import get_store


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"), ARTIFACT_SIGNING_SECRET="s" * 32,
                    FETCH_MAX_BYTES=1234, FETCH_TIMEOUT_S=7.5)


@pytest.fixture
def store(settings):
    return get_store(settings)


def worker_ctx(settings, tmp_path, **kw) -> RuntimeContext:
    return RuntimeContext(job_id="job_1", attempt=1, workdir=tmp_path / "work", sink=CallbackSink(), settings=settings, **kw)


def test_artifact_key_is_read_from_the_store(settings, store, tmp_path):
    ref = store.put_bytes(b"RIFF....WAVE", "wav")
    path = worker_ctx(settings, tmp_path).fetch_input(ref.key)
    assert path.read_bytes() == b"RIFF....WAVE"
    assert path.parent == tmp_path / "work" and path.suffix == ".wav"


def test_own_signed_url_is_verified_then_read_from_the_store(settings, store, tmp_path):
    ref = store.put_bytes(b"\x89PNG fake", "png")
    url = store.signed_url(ref.key, expires_in=600)
    assert worker_ctx(settings, tmp_path).fetch_input(url).read_bytes() == b"\x89PNG fake"
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    with pytest.raises(CapabilityError) as e:
        worker_ctx(settings, tmp_path).fetch_input(tampered)
    assert e.value.code == "bad_signature"


def test_https_goes_through_safe_fetch_with_the_configured_limits(settings, tmp_path, monkeypatch):
    calls = []

    def fake_safe_fetch(url, dest, *, max_bytes, timeout):
        calls.append((url, max_bytes, timeout))
        Path(dest).write_bytes(b"remote")
        return dest

    monkeypatch.setattr(inputs, "safe_fetch", fake_safe_fetch)
    path = worker_ctx(settings, tmp_path).fetch_input("https://cdn.example.com/a/voice.mp3")
    assert path.read_bytes() == b"remote" and path.suffix == ".mp3"
    assert calls == [("https://cdn.example.com/a/voice.mp3", 1234, 7.5)]


def test_plain_http_and_local_paths_are_refused_in_a_worker(settings, tmp_path):
    local = tmp_path / "secret.txt"
    local.write_text("x")
    with pytest.raises(CapabilityError) as http:
        worker_ctx(settings, tmp_path).fetch_input("http://example.com/a.png")
    assert http.value.code == "fetch_refused"
    with pytest.raises(CapabilityError) as path:
        worker_ctx(settings, tmp_path).fetch_input(str(local))
    assert path.value.code == "fetch_refused" and 400 <= path.value.http_status < 500


def test_local_context_reads_local_files_reports_progress_and_cleans_up(settings, tmp_path):
    local = tmp_path / "clip.wav"
    local.write_bytes(b"wav")
    seen: list[Progress] = []
    with LocalTaskContext(on_progress=seen.append, settings=settings) as ctx:
        copy = ctx.fetch_input(str(local))
        assert copy.read_bytes() == b"wav" and copy.parent == ctx.workdir
        ctx.progress(1, 2, "steps", "half")
        ctx.progress(2)
        workdir = ctx.workdir
    assert [p.done for p in seen] == [1, 2] and seen[-1].message == "half"
    assert not workdir.exists()
