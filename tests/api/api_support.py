"""A tiny in-memory JobBackend for HTTP-only tests: diagnostic jobs run on threads, state under one Condition."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Iterator

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from modal_functions.contract.jobs import Cost, Job, JobError, JobStatus, KindCapacity, Progress, WarmLease
from modal_functions.errors import CapabilityError
from modal_functions.settings import Settings

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def metric_total(text: str, name: str) -> float:
    """Sum of a metric's samples (every label set) in Prometheus text."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return total


def _now() -> datetime:
    return datetime.now(timezone.utc)


class FakeBackend:
    name = "inhouse"

    def __init__(self, limit: int = 100, retry_after: float = 3):
        self.limit = limit
        self.retry_after = retry_after
        self.jobs: dict[str, Job] = {}
        self.keys: dict[str, tuple[str, dict[str, Any]]] = {}
        self.cond = threading.Condition()
        self.release = threading.Event()  # lets "stall" jobs finish at teardown
        self.closed = False
        self.hold_submits: threading.Event | None = None  # set: submit waits for it (a POST still being handled)
        self.submit_entered = threading.Event()

    # -- helpers
    def _update(self, job_id: str, **changes: Any) -> None:
        with self.cond:
            self.jobs[job_id] = self.jobs[job_id].model_copy(update={**changes, "updated_at": _now()})
            self.cond.notify_all()

    def _active(self) -> int:
        return sum(1 for j in self.jobs.values() if not j.status.terminal)

    def _run(self, job_id: str) -> None:
        job = self.jobs[job_id]
        spec = job.input
        action = spec.get("action", "succeed")
        started = _now()
        self._update(job_id, status=JobStatus.running, started_at=started, attempts=1, queue_seconds=0.01, cold_start=True)
        steps = int(spec.get("steps", 1))
        for i in range(steps):
            if self.jobs[job_id].status.terminal:
                return
            if action == "sleep" and self.release.wait(float(spec.get("seconds", 0)) / steps):
                break
            self._update(job_id, progress=Progress(done=i + 1, total=steps, unit="steps", message=f"step {i + 1}"))
        if action == "stall":
            self.release.wait(30)
        if self.jobs[job_id].status.terminal:
            return
        cost = Cost(resource="inhouse", seconds=0.5, usd=0.001)
        if action == "fail":
            self._update(job_id, status=JobStatus.failed, finished_at=_now(), cost=cost,
                         error=JobError(code="diagnostic_failure", message="told to fail"))
        else:
            self._update(job_id, status=JobStatus.succeeded, finished_at=_now(), cost=cost,
                         result={"echo": spec.get("payload", ""), "pid": 1, "loads": 1, "attempt": 1})

    # -- JobBackend
    def submit(self, kind: str, input: dict[str, Any], idempotency_key: str | None = None) -> Job:
        if self.hold_submits is not None:
            self.submit_entered.set()
            self.hold_submits.wait(30)
        with self.cond:
            if idempotency_key is not None and idempotency_key in self.keys:
                job_id, previous = self.keys[idempotency_key]
                if previous != input:
                    raise CapabilityError("idempotency_conflict", "key used with other input", http_status=409)
                return self.jobs[job_id]
            if self._active() >= self.limit:
                err = CapabilityError("capacity", "full", retryable=True, http_status=429)
                err.retry_after = self.retry_after
                raise err
            now = _now()
            job = Job(id=uuid.uuid4().hex, kind=kind, status=JobStatus.queued, input=input, idempotency_key=idempotency_key,
                      created_at=now, updated_at=now, backend=self.name)
            self.jobs[job.id] = job
            if idempotency_key is not None:
                self.keys[idempotency_key] = (job.id, input)
        threading.Thread(target=self._run, args=(job.id,), daemon=True).start()
        return job

    def poll(self, job_id: str) -> Job:
        with self.cond:
            if job_id not in self.jobs:
                raise CapabilityError("not_found", f"no job {job_id}", http_status=404)
            return self.jobs[job_id]

    def find_by_idempotency_key(self, key: str) -> Job | None:
        with self.cond:
            entry = self.keys.get(key)
            return self.jobs[entry[0]] if entry else None

    def cancel(self, job_id: str) -> Job:
        job = self.poll(job_id)
        if not job.status.terminal:
            self._update(job_id, status=JobStatus.cancelled, finished_at=_now(),
                         error=JobError(code="cancelled", message="cancelled by caller"))
        return self.poll(job_id)

    def progress(self, job_id: str) -> Progress:
        return self.poll(job_id).progress

    def wait(self, job_id: str, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        with self.cond:
            self.cond.wait_for(lambda: self.poll(job_id).status.terminal, timeout=max(0.0, deadline - time.monotonic()))
            return self.poll(job_id)

    def events(self, job_id: str, timeout: float) -> Iterator[Job]:
        deadline = time.monotonic() + timeout
        last = None
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.poll(job_id) != last, timeout=max(0.0, deadline - time.monotonic()))
                job = self.poll(job_id)
            if job != last:
                last = job
                yield job
                if job.status.terminal:
                    return
            if time.monotonic() >= deadline:
                return

    def capacity(self) -> dict[str, KindCapacity]:
        with self.cond:
            active = self._active()
        return {"diagnostic": KindCapacity(workers=2, busy=min(active, 2), queued=max(0, active - 2), queue_limit=self.limit - 2,
                                           free=max(0, self.limit - active), warm=True)}

    def warm(self, kinds: list[str], ttl_s: int, min_containers: int | None = None) -> WarmLease:
        return WarmLease(id="lease-1", kinds=kinds, min_containers=min_containers,
                         expires_at=datetime.fromtimestamp(time.time() + ttl_s, timezone.utc), backend=self.name)

    def close(self) -> None:
        self.closed = True
        self.release.set()
        if self.hold_submits is not None:
            self.hold_submits.set()


class ModalLikeBackend(FakeBackend):
    """Named "modal" and, like Modal, reports no changes: the API learns a job's end only by polling it."""

    name = "modal"


def make_settings(tmp_path, **overrides) -> Settings:
    values = {"COMPUTE_TOKEN": TOKEN, "CANVASCAST_DATA_DIR": str(tmp_path), "COMPUTE_MAX_BODY_BYTES": 64 * 1024,
              "COMPUTE_SYNC_WAIT_S": 10.0, "CANVASCAST_ENV": "local"}
    values.update(overrides)
    return Settings(_env_file=None, **values)


class Served:
    """An app on uvicorn (lifespan on, so the backend's change listener is attached) on a loopback
    port, in this process: `with Served(app) as s:` then talk to `s.base`."""

    WAIT_S = 30.0  # upper bound for the server to answer /health or to stop; never an asserted duration

    def __init__(self, app):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        from modal_functions.runtime.testing import eventually

        self.thread.start()
        with httpx.Client(base_url=self.base, timeout=1.0) as c:
            def healthy():
                try:
                    return c.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            eventually(healthy, self.WAIT_S)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(self.WAIT_S)
        self.sock.close()
