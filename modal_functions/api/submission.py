"""Submitting and waiting, shared by the job routes and the synchronous shortcut.

The backend is synchronous; its calls run in worker threads. Long waits use their
own thread limiter (so a hundred sync callers cannot starve /health) and are cut
into short chunks, so a caller that goes away stops holding a thread.

Every submission with an idempotency key is registered in `SubmissionsInFlight` from
the moment its route starts until it has its answer (the backend call runs to the end
even when the caller has gone away). The lookup by key (`GET /v1/jobs?idempotency_key=`)
reads it: "no job for this key, but this server is still handling a POST with it" is
`404 submission_in_progress` (retryable), not a plain `404 not_found`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

from anyio import CapacityLimiter, to_thread
from fastapi import Request
from pydantic import ValidationError

from ..contract import REQUEST_MODELS
from ..contract.jobs import Job
from ..errors import UNKNOWN_KIND, VALIDATION_ERROR, CapabilityError
from ..runtime.backend import JobBackend
from .errors import summarize_errors
from .metrics import ApiMetrics

WAIT_CHUNK_S = 5.0
HEADER_KEY_PATTERN = r"^[ -~]+$"
HEADER_KEY_RULE = ("Printable ASCII only: HTTP gives header bytes no charset (the server would read UTF-8 as latin-1, "
                   "and the key would not match the same key in a body or query), so a non-ASCII key goes in the "
                   "body's idempotency_key; else 422 validation_error.")
SUBMISSION_IN_PROGRESS = "submission_in_progress"
"""404 of the key lookup: no job for the key yet, but a POST with it is being handled (retryable)."""


class SubmissionsInFlight:
    """Idempotency keys (and kinds) of the submissions this server process is handling right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, Counter[str]] = {}

    @contextmanager
    def track(self, key: str | None, kind: str) -> Iterator[None]:
        if key is None:
            yield
            return
        with self._lock:
            self._keys.setdefault(key, Counter())[kind] += 1
        try:
            yield
        finally:
            with self._lock:
                kinds = self._keys[key]
                kinds[kind] -= 1
                if kinds[kind] <= 0:
                    del kinds[kind]
                if not kinds:
                    del self._keys[key]

    def pending(self, key: str, kind: str | None = None) -> bool:
        """A submission with `key` (of `kind`, if given) is being handled."""
        with self._lock:
            kinds = self._keys.get(key)
            return bool(kinds) and (kind is None or kinds.get(kind, 0) > 0)


def in_flight(request: Request) -> SubmissionsInFlight:
    return request.app.state.submissions


def validate_input(kind: str, input: dict[str, Any]) -> None:
    model = REQUEST_MODELS.get(kind)
    if model is None:
        raise CapabilityError(UNKNOWN_KIND, f"unknown kind {kind!r}; expected one of {sorted(REQUEST_MODELS)}", http_status=400)
    try:
        model.model_validate(input, strict=True)  # JSON's types as the schema says: no `false` for 0, no "5" for 5
    except ValidationError as e:
        errors = [{**err, "loc": ("input", *err.get("loc", ()))} for err in e.errors()]
        raise CapabilityError(VALIDATION_ERROR, summarize_errors(errors), http_status=422) from None


def submit(backend: JobBackend, metrics: ApiMetrics, kind: str, input: dict[str, Any], idempotency_key: str | None) -> Job:
    """Validate, submit, count. Runs in a worker thread."""
    validate_input(kind, input)
    try:
        job = backend.submit(kind, input, idempotency_key)
    except CapabilityError as e:
        metrics.rejected(kind, backend.name, e.code)
        raise
    metrics.submitted(job)
    return job


async def submit_tracked(request: Request, backend: JobBackend, metrics: ApiMetrics, kind: str, input: dict[str, Any],
                         idempotency_key: str | None) -> Job:
    """`submit` in a worker thread, registered in flight until it returns or raises.

    The thread is not abandoned if the request is cancelled (anyio waits for it), so the
    key stays registered until the backend has decided.
    """
    with in_flight(request).track(idempotency_key, kind):
        return await to_thread.run_sync(submit, backend, metrics, kind, input, idempotency_key)


def long_wait_limiter(request: Request) -> CapacityLimiter:
    return request.app.state.long_waits


async def wait_for(request: Request, backend: JobBackend, job_id: str, seconds: float, metrics: ApiMetrics) -> Job:
    """Wait up to `seconds` for a terminal job, giving up early if the client disconnects."""
    limiter = long_wait_limiter(request)
    deadline = time.monotonic() + max(0.0, seconds)
    job = await to_thread.run_sync(backend.poll, job_id)
    while not job.status.terminal:
        left = deadline - time.monotonic()
        if left <= 0 or await request.is_disconnected():
            break
        job = await to_thread.run_sync(backend.wait, job_id, min(left, WAIT_CHUNK_S), limiter=limiter)
    metrics.observe(job)
    return job
