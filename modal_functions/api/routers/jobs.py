"""`/v1/jobs`: submit, look up, cancel, and follow a job's progress as server-sent events."""

from __future__ import annotations

from typing import Annotated, AsyncIterator

from anyio import to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from ...contract.jobs import Job, JobCreate
from ...errors import VALIDATION_ERROR, CapabilityError
from ..dependencies import BackendDep, MetricsDep, SettingsDep, require_token
from ..errors import COMMON_RESPONSES, NOT_FOUND_RESPONSE, SUBMIT_RESPONSES
from ..submission import WAIT_CHUNK_S, long_wait_limiter, submit, wait_for

def job_response(job: Job, status_code: int = 200) -> Response:
    """Serialize once with pydantic-core (the route's response_model still documents it)."""
    return Response(job.model_dump_json(), status_code=status_code, media_type="application/json")


router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)], responses=COMMON_RESPONSES)

IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                                 description="Alternative to the body's idempotency_key.")]


@router.post("", status_code=202, response_model=Job, responses=SUBMIT_RESPONSES,
             summary="Submit a job; the same idempotency key with the same input returns the same job")
def create_job(body: JobCreate, backend: BackendDep, metrics: MetricsDep, idempotency_key: IdempotencyHeader = None) -> Response:
    if body.idempotency_key and idempotency_key and body.idempotency_key != idempotency_key:
        raise CapabilityError(VALIDATION_ERROR, "Idempotency-Key header and body idempotency_key differ", http_status=422)
    return job_response(submit(backend, metrics, body.kind, body.input, body.idempotency_key or idempotency_key), 202)


@router.get("/{job_id}", response_model=Job, responses=NOT_FOUND_RESPONSE, summary="Look up a job (optionally long-poll)")
async def get_job(
    job_id: str,
    request: Request,
    backend: BackendDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    wait: Annotated[float, Query(ge=0, description="Seconds to wait for a terminal status (capped at the sync wait).")] = 0,
) -> Response:
    if wait > 0:
        return job_response(await wait_for(request, backend, job_id, min(wait, settings.sync_wait_s), metrics))
    job = await to_thread.run_sync(backend.poll, job_id)
    metrics.observe(job)
    return job_response(job)


@router.delete("/{job_id}", response_model=Job, responses=NOT_FOUND_RESPONSE, summary="Cancel a job (a finished job is returned unchanged)")
def cancel_job(job_id: str, backend: BackendDep, metrics: MetricsDep) -> Response:
    job = backend.cancel(job_id)
    metrics.observe(job)
    return job_response(job)


@router.get(
    "/{job_id}/events",
    responses={**NOT_FOUND_RESPONSE, 200: {"content": {"text/event-stream": {}},
                                           "description": "One `event: job` per change, data = the Job as JSON; ends after a terminal status."}},
    summary="Server-sent progress until the job is terminal",
)
async def job_events(job_id: str, request: Request, backend: BackendDep, metrics: MetricsDep) -> EventSourceResponse:
    first = await to_thread.run_sync(backend.poll, job_id)  # 404 before the stream starts
    limiter = long_wait_limiter(request)
    done = object()

    async def stream() -> AsyncIterator[ServerSentEvent]:
        last = first
        yield ServerSentEvent(data=first.model_dump_json(), event="job", id=str(0))
        seq = 1
        while not last.status.terminal:
            it = backend.events(job_id, WAIT_CHUNK_S)
            try:
                while True:
                    job = await to_thread.run_sync(next, it, done, limiter=limiter)
                    if job is done:
                        break
                    if job == last:
                        continue
                    last = job
                    yield ServerSentEvent(data=job.model_dump_json(), event="job", id=str(seq))
                    seq += 1
                    if job.status.terminal:
                        break
            finally:
                it.close()
        metrics.observe(last)

    return EventSourceResponse(stream(), ping=15, send_timeout=30)
