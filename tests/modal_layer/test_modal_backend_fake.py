"""`ModalBackend` on the minimal fake of Modal's primitives (Dict, spawn, FunctionCall).

The shared lifecycle tests (tests/lifecycle, factory in lifecycle_backend.py) cover
success, failures, retries, stalls, timeouts, cancel, idempotency and capacity on this
backend. Here: what only Modal has (call ids, expired outputs, the front door dying
while calls keep running, the resource chosen by job size).
Waits are on conditions with deadlines; nothing asserts a duration.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from modal_functions.config import load_config, default_path
from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import choose_object, job_key
from modal_functions.modal_layer.fake_primitives import fake_backend


def quick_config():
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    functions["diagnostic"] = functions["diagnostic"].model_copy(update={"stall_timeout": 60.0, "retries": 1, "timeout": 30})  # no test here stalls
    return cfg.model_copy(update={"functions": functions})


@pytest.fixture
def backend(tmp_path):
    b = fake_backend(tmp_path / "modal", quick_config())
    yield b
    b.close()


def wait_until(predicate, timeout=20.0, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met before the deadline")


def test_a_job_runs_and_reports_result_progress_and_cost(backend):
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 0.2, "steps": 2, "payload": "hi"})
    assert job.status == JobStatus.queued and job.backend == "modal"
    call_id = backend.p.jobs[job_key(job.id)]["call_id"]
    assert call_id.startswith("fc-")
    done = backend.wait(job.id, 30)
    assert done.status == JobStatus.succeeded
    assert done.result["echo"] == "hi" and done.attempts == 1
    assert done.progress.done == done.progress.total == 2
    assert done.cost.resource == "cpu:0.25" and done.cost.usd >= 0
    assert done.cold_start is True
    assert backend.progress(job.id) == done.progress
    assert backend.poll(job.id) == done  # terminal answers come from the Dict


def test_a_crashed_container_fails_as_worker_crashed_after_the_retries(backend):
    done = backend.wait(backend.submit("diagnostic", {"action": "crash"}).id, 30)
    assert done.status == JobStatus.failed
    assert done.error.code == "worker_crashed"
    assert backend.p.function("diagnostic").retries == 1
    call = backend.p.function_call(backend.p.jobs[job_key(done.id)]["call_id"])
    assert call.attempts == 2


def test_progress_goes_through_the_dict_and_cancel_stops_the_call(backend):
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 60, "steps": 60})
    running = wait_until(lambda: (j := backend.poll(job.id)).status == JobStatus.running and j.progress.done >= 1 and j)
    assert running.progress.total == 60 and running.attempts == 1
    cancelled = backend.cancel(job.id)
    assert cancelled.status == JobStatus.cancelled and cancelled.error.code == "cancelled"
    call = backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"])
    assert call.join(10)  # the attempt was killed, no retry followed
    assert call.attempts == 1
    assert backend.poll(job.id).status == JobStatus.cancelled
    assert backend.cancel(job.id).status == JobStatus.cancelled  # idempotent


def test_an_expired_output_is_a_clear_failure(backend):
    job = backend.submit("diagnostic", {"action": "succeed"})
    call = backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"])
    call.expire()  # nobody polled within Modal's retention window
    done = backend.poll(job.id)
    assert done.status == JobStatus.failed
    assert done.error.code == "output_expired" and done.error.retryable


def test_a_result_seen_once_survives_expiry(backend):
    job = backend.wait(backend.submit("diagnostic", {"action": "succeed", "payload": "kept"}).id, 30)
    backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"]).expire()
    again = backend.poll(job.id)
    assert again.status == JobStatus.succeeded and again.result["echo"] == "kept"


def test_calls_outlive_a_dead_front_door(backend, tmp_path):
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 0.5, "steps": 2, "payload": "survivor"})
    # The API container dies without a word; a new one (same app, same Dicts) takes over.
    successor = fake_backend(tmp_path / "modal", quick_config())
    done = successor.wait(job.id, 30)
    assert done.status == JobStatus.succeeded and done.result["echo"] == "survivor"


def test_idempotency_index_lives_in_the_dict(backend):
    first = backend.submit("diagnostic", {"action": "succeed", "payload": "a"}, idempotency_key="k1")
    second = backend.submit("diagnostic", {"action": "succeed", "payload": "a"}, idempotency_key="k1")
    assert second.id == first.id
    assert len(backend.p.spawned) == 1
    with pytest.raises(CapabilityError) as e:
        backend.submit("diagnostic", {"action": "succeed", "payload": "b"}, idempotency_key="k1")
    assert e.value.code == "idempotency_conflict" and e.value.http_status == 409
    backend.wait(first.id, 30)


def test_whisper_runs_on_the_gpu_only_for_long_audio():
    cfg = load_config(default_path())
    threshold = cfg.function("transcribe_audio").gpu_min_audio_seconds
    assert choose_object(cfg, "transcribe_audio", SimpleNamespace(duration_s=threshold - 1)) == ("TranscriberCPU", True)
    assert choose_object(cfg, "transcribe_audio", SimpleNamespace(duration_s=threshold)) == ("Transcriber", True)
    assert choose_object(cfg, "transcribe_audio", SimpleNamespace()) == ("TranscriberCPU", False)  # measured first
    assert choose_object(cfg, "render_video", SimpleNamespace()) == ("render_video", True)
    # a big model takes the GPU class whatever the audio's length (it is warm there)
    assert choose_object(cfg, "transcribe_audio", SimpleNamespace(model="large-v3", duration_s=5)) == ("Transcriber", True)
    assert choose_object(cfg, "transcribe_audio", SimpleNamespace(model="large-v3")) == ("Transcriber", True)
    assert choose_object(cfg, "transcribe_audio", SimpleNamespace(model="tiny.en", duration_s=5)) == ("TranscriberCPU", True)


def _cpu_twin(job):
    """Stands in for TranscriberCPU: unsized jobs are 'measured' as long and handed to the GPU."""
    if not job.get("sized"):
        return {"ok": False, "handoff": "Transcriber"}
    return {"ok": True, "result": {"on": "cpu"}, "seconds": 1.0, "resource": "cpu:4", "attempt": 1}


def _gpu_class(job):
    return {"ok": True, "result": {"on": "gpu", "sized": job["sized"]}, "seconds": 2.0, "resource": "A10G", "attempt": 1}


def test_an_unsized_whisper_job_measured_long_moves_to_the_gpu(tmp_path):
    from modal_functions.modal_layer.backend import ModalBackend
    from modal_functions.modal_layer.fake_primitives import FakePrimitives

    cfg = load_config(default_path())
    p = FakePrimitives(tmp_path / "modal", {"TranscriberCPU": (_cpu_twin, 0), "Transcriber": (_gpu_class, 0)})
    backend = ModalBackend(cfg, p, wait_slice=0.2)
    try:
        job = backend.submit("transcribe_audio", {"audio": "https://example.com/long.wav"})
        done = backend.wait(job.id, 30)
        assert done.status == JobStatus.succeeded and done.result == {"on": "gpu", "sized": True}
        assert [name for name, _args in p.spawned] == ["TranscriberCPU", "Transcriber"]
        assert done.cost.resource == "A10G"
        assert backend.p.jobs[job_key(job.id)]["handed_off_from"] == "TranscriberCPU"
    finally:
        backend.close()


def test_the_same_fastapi_app_serves_jobs_from_the_modal_backend(backend, tmp_path):
    from fastapi.testclient import TestClient

    from modal_functions.api.main import create_app
    from modal_functions.settings import Settings

    settings = Settings(_env_file=None, COMPUTE_TOKEN="t0ken", CANVASCAST_DATA_DIR=str(tmp_path / "data"), CANVASCAST_ENV="local")
    with TestClient(create_app(settings, backend), headers={"Authorization": "Bearer t0ken"}) as client:
        r = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "succeed", "payload": "via http"}})
        assert r.status_code == 202 and r.json()["backend"] == "modal"
        done = client.get(f"/v1/jobs/{r.json()['id']}", params={"wait": 20}).json()
        assert done["status"] == "succeeded" and done["result"]["echo"] == "via http"
        envelope = client.post("/v1/diagnostic", json={"payload": "sync"}).json()
        assert envelope["success"] is True and envelope["data"]["echo"] == "sync"
        assert client.get("/v1/jobs/nope").status_code == 404


def test_lookup_by_idempotency_key_reads_the_dicts_index(backend):
    from modal_functions.modal_layer.backend import idem_key

    assert backend.find_by_idempotency_key("k-look") is None
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "a"}, idempotency_key="k-look")
    assert backend.find_by_idempotency_key("k-look").id == job.id
    done = backend.wait(job.id, 30)
    assert backend.find_by_idempotency_key("k-look") == done == backend.poll(job.id)
    assert len(backend.p.spawned) == 1, "looking up never spawns"
    # Modal expires Dict entries: once the index entry is gone the key is unknown, and a
    # submit with it makes a new job, as the lookup said.
    backend.p.jobs.pop(idem_key("k-look"))
    assert backend.find_by_idempotency_key("k-look") is None
    again = backend.submit("diagnostic", {"action": "succeed", "payload": "a"}, idempotency_key="k-look")
    assert again.id != job.id and backend.find_by_idempotency_key("k-look").id == again.id
    backend.wait(again.id, 30)


def test_lookup_by_key_over_the_fastapi_app_on_the_modal_backend(backend, tmp_path):
    from fastapi.testclient import TestClient

    from modal_functions.api.main import create_app
    from modal_functions.settings import Settings

    settings = Settings(_env_file=None, COMPUTE_TOKEN="t0ken", CANVASCAST_DATA_DIR=str(tmp_path / "data"), CANVASCAST_ENV="local")
    with TestClient(create_app(settings, backend), headers={"Authorization": "Bearer t0ken"}) as client:
        job = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "succeed"}, "idempotency_key": "m-1"}).json()
        client.get(f"/v1/jobs/{job['id']}", params={"wait": 20})
        found = client.get("/v1/jobs", params={"idempotency_key": "m-1", "kind": "diagnostic"})
        assert found.status_code == 200 and found.json() == client.get(f"/v1/jobs/{job['id']}").json()
        assert found.json()["backend"] == "modal"
        for params in ({"idempotency_key": "m-2"}, {"idempotency_key": "m-1", "kind": "generate_images"}):
            r = client.get("/v1/jobs", params=params)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", params
        assert client.get("/v1/jobs", params={"idempotency_key": ""}).status_code == 422
        assert client.get("/v1/jobs", params={"idempotency_key": "m-1"}, headers={"Authorization": "Bearer x"}).status_code == 401
