"""Which `JobBackend` the API serves, and how it is named in answers.

`canvascast serve` runs the in-house backend. `--backend-name modal` keeps it but
reports every job, lease and health answer as `backend: "modal"`, so the worker
can exercise its Modal path against a local fake.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..contract.jobs import Job, KindCapacity, Progress, WarmLease
from ..errors import CapabilityError
from ..runtime.backend import JobBackend
from ..settings import Settings

NOT_SUPPORTED = "not_supported"


def find_by_idempotency_key(backend: JobBackend, key: str) -> Job | None:
    """The job a POST with `key` would be answered with now; None when such a POST would make a new one.

    Backends that can answer have `find_by_idempotency_key(key)` (in-house, Modal,
    `RenamedBackend`, `client.HttpBackend`); keys are global, not per kind.
    """
    find = getattr(backend, "find_by_idempotency_key", None)
    if not callable(find):
        raise CapabilityError(NOT_SUPPORTED, f"the {backend.name} backend cannot look jobs up by idempotency key", http_status=501)
    return find(key)


def build_backend(settings: Settings, name: str | None = None, kinds: list[str] | None = None) -> JobBackend:
    """The in-house backend; `kinds` limits which pools start (default: every kind)."""
    from ..config import get_config
    from ..runtime.inhouse import InHouseBackend

    backend: JobBackend = InHouseBackend(get_config(), settings, kinds=kinds or None)
    name = name or settings.backend
    if name != backend.name:
        backend = RenamedBackend(backend, name)
    return backend


class RenamedBackend:
    """Delegates everything; rewrites the `backend` field of what comes back."""

    def __init__(self, inner: JobBackend, name: str):
        self.inner = inner
        self.name = name

    def _job(self, job: Job) -> Job:
        return job.model_copy(update={"backend": self.name})

    def submit(self, kind: str, input: dict[str, Any], idempotency_key: str | None = None) -> Job:
        return self._job(self.inner.submit(kind, input, idempotency_key))

    def poll(self, job_id: str) -> Job:
        return self._job(self.inner.poll(job_id))

    def cancel(self, job_id: str) -> Job:
        return self._job(self.inner.cancel(job_id))

    def find_by_idempotency_key(self, key: str) -> Job | None:
        job = find_by_idempotency_key(self.inner, key)
        return None if job is None else self._job(job)

    def progress(self, job_id: str) -> Progress:
        return self.inner.progress(job_id)

    def wait(self, job_id: str, timeout: float) -> Job:
        return self._job(self.inner.wait(job_id, timeout))

    def events(self, job_id: str, timeout: float) -> Iterator[Job]:
        for job in self.inner.events(job_id, timeout):
            yield self._job(job)

    def capacity(self) -> dict[str, KindCapacity]:
        return self.inner.capacity()

    def warm(self, kinds: list[str], ttl_s: int, min_containers: int | None = None) -> WarmLease:
        return self.inner.warm(kinds, ttl_s, min_containers).model_copy(update={"backend": self.name})

    def add_listener(self, listener) -> bool:
        """False when the inner backend does not report its changes (the listener is never called)."""
        add = getattr(self.inner, "add_listener", None)
        if add is None:
            return False
        return add(lambda job: listener(self._job(job))) is not False

    def close(self) -> None:
        self.inner.close()
