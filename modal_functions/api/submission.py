"""Submitting and waiting, shared by the job routes and the synchronous shortcut.

The backend is synchronous; its calls run in worker threads. Long waits use their
own thread limiter (so a hundred sync callers cannot starve /health) and are cut
into short chunks, so a caller that goes away stops holding a thread.
"""

from __future__ import annotations

import time
from typing import Any

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


def validate_input(kind: str, input: dict[str, Any]) -> None:
    model = REQUEST_MODELS.get(kind)
    if model is None:
        raise CapabilityError(UNKNOWN_KIND, f"unknown kind {kind!r}; expected one of {sorted(REQUEST_MODELS)}", http_status=400)
    try:
        model.model_validate(input)
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
