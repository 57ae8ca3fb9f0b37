"""What a real server does with records it cannot read, a full disk, non-ASCII header keys, a slow cancel, a kind it was not started with.

Against real parts: `canvascast serve` on a seeded data dir, and the app on uvicorn on a loopback
port (in this process, so the registry's disk can be filled and a worker's death held back).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone

import httpx
import pytest

from modal_functions.api.main import create_app
from modal_functions.api.server_process import ServerProcess
from modal_functions.config import load_config
from modal_functions.contract.jobs import Job, JobStatus
from modal_functions.runtime import inhouse
from modal_functions.runtime.inhouse import InHouseBackend
from modal_functions.runtime.process import WorkerProcess
from modal_functions.runtime.registry import JobRegistry, input_digest
from modal_functions.runtime.testing import eventually, write_config
from modal_functions.settings import Settings

from api_support import TOKEN, Served

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 30.0  # upper bound of any wait below; never an asserted duration
T0 = datetime(2026, 11, 23, tzinfo=timezone.utc)


def _toml(tmp_path):
    return write_config(tmp_path / "modal.toml", inhouse={"diagnostic": {"workers": 1, "queue": 4, "preload": True}},
                        functions={"diagnostic": {"stall_timeout": 6, "retries": 0, "timeout": 60}})


def _seed(data_dir) -> None:
    """Jobs as another version (or a damaged disk) left them: a running one with a field this version does not know,
    a succeeded one with a truncated body, and a queued one of a kind this version does not know."""
    reg = JobRegistry(data_dir / "jobs.sqlite3")

    def job(id, status, key, **extra):
        return Job(id=id, kind="diagnostic", status=status, input={"payload": id}, idempotency_key=key,
                   created_at=T0, updated_at=T0, backend="inhouse", **extra)

    reg.create(job("job_newer", JobStatus.running, "k-newer"), input_digest("diagnostic", {"payload": "job_newer"}))
    reg.create(job("job_cut", JobStatus.succeeded, "k-cut", result={"echo": "x"}, finished_at=T0),
               input_digest("diagnostic", {"payload": "job_cut"}))
    reg.create(job("job_alien", JobStatus.queued, None))
    reg.close()
    db = sqlite3.connect(data_dir / "jobs.sqlite3")
    with db:
        body = json.loads(db.execute("select body from jobs where id = 'job_newer'").fetchone()[0])
        db.execute("update jobs set body = ? where id = 'job_newer'", (json.dumps({**body, "attempts": "several"}),))  # a field another version types otherwise
        cut = db.execute("select body from jobs where id = 'job_cut'").fetchone()[0]
        db.execute("update jobs set body = ? where id = 'job_cut'", (cut[: len(cut) // 2],))
        alien = json.loads(db.execute("select body from jobs where id = 'job_alien'").fetchone()[0])
        db.execute("update jobs set kind = 'teleport', body = ? where id = 'job_alien'", (json.dumps({**alien, "kind": "teleport"}),))
    db.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    (root / "data").mkdir()
    _seed(root / "data")
    s = ServerProcess(root / "data", TOKEN, modal_toml=_toml(root), args=["--kinds", "diagnostic", "--no-access-log"])
    s.start()  # recover() raised on the first unreadable record: the server never became healthy
    yield s
    s.stop()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=WAIT_S) as c:
        yield c


def test_a_server_starts_over_records_it_cannot_read_and_answers_them(server, http):
    newer = http.get("/v1/jobs/job_newer")
    assert newer.status_code == 200
    body = newer.json()
    assert body["status"] == "failed" and body["error"]["code"] == "record_unreadable" and body["error"]["retryable"] is True
    assert body["idempotency_key"] == "k-newer" and body["input"] == {"payload": "job_newer"}
    by_key = http.get("/v1/jobs", params={"idempotency_key": "k-newer"})
    assert by_key.status_code == 200 and by_key.json() == body
    replay = http.post("/v1/jobs", json={"kind": "diagnostic", "input": {"payload": "job_newer"}, "idempotency_key": "k-newer"})
    assert replay.status_code == 202 and replay.json() == body  # the key still means this job: no second one

    cut = http.get("/v1/jobs/job_cut")  # a finished record: was a 500 on every GET
    assert cut.status_code == 200 and cut.json()["error"]["code"] == "record_unreadable"
    assert http.get("/v1/jobs", params={"idempotency_key": "k-cut"}).json()["id"] == "job_cut"

    alien = http.get("/v1/jobs/job_alien")
    assert alien.status_code == 410 and alien.json()["error"]["code"] == "record_unreadable"
    assert http.delete("/v1/jobs/job_alien").status_code == 410

    logged = [json.loads(line) for line in server.log_tail(200_000).splitlines() if line.startswith("{")]
    assert {r.get("job_id") for r in logged if r["msg"] == "stored job unreadable; quarantined"} >= {"job_newer", "job_cut", "job_alien"}
    assert http.post("/v1/diagnostic", json={"payload": "still serving"}).json()["success"] is True


def test_a_non_ascii_idempotency_key_header_is_refused_and_body_and_query_agree(http):
    """The header was read as latin-1: a UTF-8 key sent there was recorded as mojibake, so the same key
    looked up by query (`?idempotency_key=`, UTF-8) found nothing."""
    key = "ключ-1"
    for path, body in (("/v1/jobs", {"kind": "diagnostic", "input": {}}), ("/v1/diagnostic", {})):
        r = http.post(path, json=body, headers={"Idempotency-Key": key.encode("utf-8")})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error" and "Idempotency-Key" in r.json()["error"]["message"]
    assert http.get("/v1/jobs", params={"idempotency_key": key}).status_code == 404  # nothing was recorded
    made = http.post("/v1/jobs", json={"kind": "diagnostic", "input": {}, "idempotency_key": key})
    assert made.status_code == 202
    found = http.get("/v1/jobs", params={"idempotency_key": key})
    assert found.status_code == 200 and found.json()["id"] == made.json()["id"]
    ascii_key = http.post("/v1/jobs", json={"kind": "diagnostic", "input": {}}, headers={"Idempotency-Key": "plain-1"})
    assert http.get("/v1/jobs", params={"idempotency_key": "plain-1"}).json()["id"] == ascii_key.json()["id"]


def test_a_kind_this_server_was_not_started_with_is_unknown_kind(http):
    """Kept as `unknown_kind`: the worker reads that code as "this backend is not set up for the kind" and
    places the step on the other backend (apps/worker/src/client/errors.ts: isMisconfigured)."""
    images = {"prompts": ["a cat"]}
    for r in (http.post("/v1/jobs", json={"kind": "generate_images", "input": images}),
              http.post("/v1/generate_images", json=images),
              http.post("/v1/warm", json={"kinds": ["generate_images"], "ttl_s": 60})):
        assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_kind", r.text
        assert "not served" in r.json()["error"]["message"]



@pytest.fixture
def served(tmp_path):
    settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"), COMPUTE_TOKEN=TOKEN)
    backend = InHouseBackend(load_config(_toml(tmp_path)), settings, kinds=["diagnostic"])
    try:
        with Served(create_app(settings, backend)) as s, httpx.Client(base_url=s.base, headers=AUTH, timeout=WAIT_S) as c:
            yield backend, c
    finally:
        backend.close()


def test_a_full_disk_at_submit_is_a_retryable_503_that_records_nothing(served):
    """A full disk (SQLITE_FULL, SQLite's ENOSPC) while recording a job answered `500 internal`."""
    backend, http = served
    reg = backend.registry
    with reg._lock:
        pages = reg._db.execute("pragma page_count").fetchone()[0]
        reg._db.execute(f"pragma max_page_count = {pages}")  # the registry file may not grow: the disk is full
    job = {"kind": "diagnostic", "input": {"payload": "x" * 10_000}, "idempotency_key": "full-1"}
    full = http.post("/v1/jobs", json=job)
    assert full.status_code == 503, full.text
    assert full.json()["error"]["code"] == "registry_unavailable" and full.json()["error"]["retryable"] is True
    assert http.get("/v1/jobs", params={"idempotency_key": "full-1"}).json()["error"]["code"] == "not_found"
    assert reg.count() == 0 and backend.capacity()["diagnostic"].queued == 0  # nothing half-recorded, no slot held
    with reg._lock:
        reg._db.execute("pragma max_page_count = 1073741823")
    again = http.post("/v1/jobs", json=job)  # the caller's retry, same key: one job
    assert again.status_code == 202
    assert http.get(f"/v1/jobs/{again.json()['id']}", params={"wait": WAIT_S}).json()["status"] == "succeeded"


def test_a_cancel_the_worker_has_not_obeyed_yet_answers_202_and_the_job_ends_cancelled(served, monkeypatch):
    """DELETE waits CANCEL_WAIT_S for the worker to die; past it, it answered 200 with the job still
    `running`, while the contract says a 200 DELETE is a cancelled (or finished) job."""
    backend, http = served
    monkeypatch.setattr(inhouse, "CANCEL_WAIT_S", 0.05)  # how long DELETE waits; the death below is held until released
    dying, release = threading.Event(), threading.Event()
    real_kill = WorkerProcess.kill

    def slow_kill(self):
        dying.set()
        release.wait(WAIT_S)
        real_kill(self)

    job = http.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "sleep", "seconds": 60, "steps": 60}}).json()
    eventually(lambda: backend.poll(job["id"]).status == JobStatus.running, WAIT_S)
    monkeypatch.setattr(WorkerProcess, "kill", slow_kill)
    try:
        r = http.delete(f"/v1/jobs/{job['id']}")
        assert dying.is_set()  # the slot is killing the worker
        assert r.status_code == 202 and r.json()["status"] == "running", r.text
    finally:
        release.set()
    done = http.get(f"/v1/jobs/{job['id']}", params={"wait": WAIT_S}).json()
    assert done["status"] == "cancelled" and done["error"]["code"] == "cancelled"
    again = http.delete(f"/v1/jobs/{job['id']}")
    assert again.status_code == 200 and again.json() == done


def test_a_kind_not_served_is_unknown_kind_even_when_its_code_cannot_load(tmp_path, monkeypatch):
    """submit() and warm() imported the kind's code before asking whether a pool serves it: a kind this server
    does not serve, whose code cannot load here, answered 503 capability_unavailable (retry here) instead."""
    real = inhouse.get_capability

    def broken(kind):
        if kind == "generate_images":
            raise ImportError("no module named google.genai")
        return real(kind)

    monkeypatch.setattr(inhouse, "get_capability", broken)
    settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"))
    with InHouseBackend(load_config(_toml(tmp_path)), settings, kinds=["diagnostic"]) as backend:
        from modal_functions.errors import CapabilityError

        for call in (lambda: backend.submit("generate_images", {"prompts": ["a cat"]}),
                     lambda: backend.warm(["generate_images"], 60)):
            with pytest.raises(CapabilityError) as e:
                call()
            assert (e.value.code, e.value.http_status) == ("unknown_kind", 400)
