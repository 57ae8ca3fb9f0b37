"""`JobBackend`: what the HTTP API (and the lifecycle tests) need from any place that runs jobs.

In-house: `runtime.inhouse.InHouseBackend` (warm process pools + SQLite registry).
Modal: `modal_layer.backend.ModalBackend` (spawn + FunctionCall + modal.Dict).
Errors are `CapabilityError`s with codes: unknown_kind / validation_error (400/422; unknown_kind
also for a kind this backend does not serve), idempotency_conflict (409), capacity (429, with
`retry_after`), not_found (404), record_unreadable (410, in-house: a stored job of a kind this
version does not know), and retryable 503s (shutting_down, capability_unavailable,
registry_unavailable, modal_unavailable).

`cancel` returns the job as it is once the cancel is done or has waited its bound: terminal
when it took effect (or the job had finished), still queued/running when the worker has not
stopped yet (the API answers that 202; the job ends `cancelled` later).
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

from ..contract.jobs import Job, KindCapacity, Progress, WarmLease


class JobBackend(Protocol):
    name: str  # "inhouse" | "modal"

    def submit(self, kind: str, input: dict[str, Any], idempotency_key: str | None = None) -> Job: ...

    def poll(self, job_id: str) -> Job: ...

    def cancel(self, job_id: str) -> Job: ...

    def progress(self, job_id: str) -> Progress: ...

    def wait(self, job_id: str, timeout: float) -> Job:
        """Block until the job is terminal or `timeout` passes; returns the latest Job."""
        ...

    def events(self, job_id: str, timeout: float) -> Iterator[Job]:
        """Yield the job each time it changes, until terminal or `timeout`."""
        ...

    def capacity(self) -> dict[str, KindCapacity]: ...

    def warm(self, kinds: list[str], ttl_s: int, min_containers: int | None = None) -> WarmLease: ...

    def close(self) -> None: ...
