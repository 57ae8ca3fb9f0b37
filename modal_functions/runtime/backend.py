"""`JobBackend`: what the HTTP API (and the lifecycle tests) need from any place that runs jobs.

In-house: `runtime.inhouse.InHouseBackend` (warm process pools + SQLite registry).
Modal: `modal_layer.backend.ModalBackend` (spawn + FunctionCall + modal.Dict).
Errors are `CapabilityError`s with codes: unknown_kind / validation_error (400/422),
idempotency_conflict (409), capacity (429, with `retry_after`), not_found (404).
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
