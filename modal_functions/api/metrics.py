"""Prometheus metrics (PRD §10), one `CollectorRegistry` per app so tests and apps never share counters.

Each job is counted once, by the process that ran it:

- A backend that reports its changes (in-house: `add_listener`) is the only source
  (`changed`): the invocation when it reports the job queued (once, at creation), the
  outcome (duration, queue time, cold start, error code, cost) when it reports it
  terminal. What the routes see is not counted again, so a job a previous server process
  ran (read after a restart, replayed by its idempotency key) is not counted twice.
- Otherwise (Modal) the API counts the invocation when it hands a job out first, and the
  outcome when it first sees the job terminal: on a GET, a wait, an event stream, or at
  scrape time, when it polls the jobs it still holds as pending. A poll that fails (Modal
  unreachable for a moment) keeps the job pending; only a 404/410 (no such job) drops it.
  Counters live in each process: Modal's web containers each count the jobs they handed
  out (a job read through another container is not counted there), and a scrape of the
  app's URL reaches one of them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..contract.jobs import Job, KindCapacity
from ..errors import CapabilityError

CONTENT_TYPE = CONTENT_TYPE_LATEST
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf"))
_QUEUE_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, float("inf"))
_SEEN_LIMIT = 100_000
_GONE = (404, 410)  # a poll answering these means the job is not (or no longer) one this backend can report


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        labels = ("kind", "backend")
        self.invocations = Counter("canvascast_invocations", "Jobs accepted.", labels, registry=r)
        self.finished = Counter("canvascast_jobs_finished", "Jobs that reached a terminal status.", (*labels, "status"), registry=r)
        self.duration = Histogram("canvascast_duration_seconds", "Run time of finished jobs (start to finish).", labels,
                                  buckets=_DURATION_BUCKETS, registry=r)
        self.queue = Histogram("canvascast_queue_seconds", "Time jobs waited before a worker took them.", labels,
                               buckets=_QUEUE_BUCKETS, registry=r)
        self.cold_starts = Counter("canvascast_cold_starts", "Jobs that had to load heavy state first.", labels, registry=r)
        self.errors = Counter("canvascast_errors", "Failed jobs by error code.", (*labels, "code"), registry=r)
        self.rejections = Counter("canvascast_rejections", "Submissions refused before a job existed (capacity, conflict, ...).",
                                  (*labels, "code"), registry=r)
        self.cost = Counter("canvascast_cost_usd", "Compute cost of finished jobs, USD.", labels, registry=r)
        self.free = Gauge("canvascast_capacity_free", "Jobs a kind accepts right now before answering 429.", labels, registry=r)
        self.busy = Gauge("canvascast_workers_busy", "Busy workers per kind.", labels, registry=r)
        self.queued = Gauge("canvascast_jobs_queued", "Jobs waiting per kind.", labels, registry=r)
        self.capacity_up = Gauge("canvascast_capacity_up", "1 when the last capacity reading succeeded, else 0 "
                                 "(the capacity gauges are then absent, not stale).", ("backend",), registry=r)
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._known: OrderedDict[str, None] = OrderedDict()
        self.listening = False  # set when the backend reports its changes: then `changed` is the only source

    def changed(self, job: Job) -> None:
        """The backend's change listener: a queued job was just created, a terminal one just finished."""
        if job.status.value == "queued" and self._first_sight(job.id):
            self.invocations.labels(job.kind, job.backend).inc()
        self._record(job)

    def _first_sight(self, job_id: str) -> bool:
        with self._lock:
            if job_id in self._known:
                return False
            self._known[job_id] = None
            if len(self._known) > _SEEN_LIMIT:
                self._known.popitem(last=False)
            return True

    def submitted(self, job: Job) -> None:
        """Count a job the first time the API hands it out (an idempotent resubmit is not a new invocation)."""
        if self.listening:
            return
        with self._lock:
            if job.id in self._known:
                new = False
            else:
                new = True
                self._known[job.id] = None
                if len(self._known) > _SEEN_LIMIT:
                    self._known.popitem(last=False)
                if not job.status.terminal and job.id not in self._done:  # a fast job may be over already
                    self._pending[job.id] = job.kind
        if new:
            self.invocations.labels(job.kind, job.backend).inc()
        self.observe(job)

    def rejected(self, kind: str, backend: str, code: str) -> None:
        self.rejections.labels(kind, backend, code).inc()

    def observe(self, job: Job) -> None:
        """A job the API saw: record its outcome once, if it is terminal (unless the backend reports outcomes itself).

        Only a job this process handed out (and counted as an invocation): on Modal another web
        container that took the job counts its end, and counting it here too would count it twice."""
        if self.listening:
            return
        with self._lock:
            ours = job.id in self._known or job.id in self._pending
        if ours:
            self._record(job)

    def _record(self, job: Job) -> None:
        if not job.status.terminal:
            return
        with self._lock:
            self._pending.pop(job.id, None)
            if job.id in self._done:
                return
            self._done[job.id] = None
            if len(self._done) > _SEEN_LIMIT:
                self._done.popitem(last=False)
        kind, backend = job.kind, job.backend
        self.finished.labels(kind, backend, job.status.value).inc()
        if job.started_at and job.finished_at:
            self.duration.labels(kind, backend).observe(max(0.0, (job.finished_at - job.started_at).total_seconds()))
        if job.queue_seconds is not None:
            self.queue.labels(kind, backend).observe(max(0.0, job.queue_seconds))
        if job.cold_start:
            self.cold_starts.labels(kind, backend).inc()
        if job.error is not None and job.status.value == "failed":
            self.errors.labels(kind, backend, job.error.code).inc()
        if job.cost is not None:
            self.cost.labels(kind, backend).inc(job.cost.usd)

    def pending(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._pending.pop(job_id, None)

    def set_capacity(self, backend: str, capacity: dict[str, KindCapacity]) -> None:
        for kind, cap in capacity.items():
            self.free.labels(kind, backend).set(cap.free)
            self.busy.labels(kind, backend).set(cap.busy)
            self.queued.labels(kind, backend).set(cap.queued)
        self.capacity_up.labels(backend).set(1)

    def capacity_unavailable(self, backend: str) -> None:
        """The backend could not say its capacity: drop the gauges rather than keep exporting the
        last reading as if it were current (Prometheus then sees them go stale), and say so."""
        for gauge in (self.free, self.busy, self.queued):
            gauge.clear()
        self.capacity_up.labels(backend).set(0)

    def refresh(self, poll: Callable[[str], Job]) -> None:
        """Poll the jobs still pending so finished ones are counted even if nobody asked about them."""
        for job_id in self.pending():
            try:
                job = poll(job_id)
            except CapabilityError as e:
                if e.http_status in _GONE:  # not a job (any more): nothing left to count
                    self.forget(job_id)
                continue  # unreachable for now (503, ...): still pending, its end is counted on a later scrape
            except Exception:  # e.g. a network error: says nothing about the job either
                continue
            self.observe(job)

    def render(self) -> bytes:
        return generate_latest(self.registry)
