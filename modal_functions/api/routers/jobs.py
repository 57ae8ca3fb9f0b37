"""`/v1/jobs`: submit, look up (by id or idempotency key), cancel, and follow a job's progress as server-sent events."""

from __future__ import annotations

from typing import Annotated, AsyncIterator

from anyio import to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from ...contract import REQUEST_MODELS
from ...contract.jobs import KINDS, Job, JobCreate, Kind
from ...errors import NOT_FOUND, VALIDATION_ERROR, CapabilityError
from ..backends import find_by_idempotency_key
from ..dependencies import BackendDep, MetricsDep, SettingsDep, require_token
from ..errors import COMMON_RESPONSES, LOOKUP_RESPONSES, NOT_FOUND_RESPONSE, SUBMIT_RESPONSES
from ..links import job_links
from ..submission import HEADER_KEY_PATTERN, HEADER_KEY_RULE, SUBMISSION_IN_PROGRESS, WAIT_CHUNK_S, in_flight, long_wait_limiter, submit_tracked, wait_for

def job_response(job: Job, status_code: int = 200) -> Response:
    """Serialize once with pydantic-core (the route's response_model still documents it)."""
    return Response(job.model_dump_json(), status_code=status_code, media_type="application/json")


router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)], responses=COMMON_RESPONSES)

IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                                 pattern=HEADER_KEY_PATTERN, description="Alternative to the body's idempotency_key. " + HEADER_KEY_RULE)]
IdempotencyQuery = Annotated[str, Query(min_length=1, max_length=200,
                                        description="The key the job was submitted with (same rules as the POST's key).")]
KindQuery = Annotated[Kind | None, Query(description="Only a job of this kind; a job with the key but another kind is a 404.")]

RETRY_LOOKUP_S = 1


def _body_by_kind() -> dict:
    """The documented body: `input` is the request of its `kind` (the model validates it as a dict, then per kind)."""
    key = JobCreate.model_json_schema()["properties"]["idempotency_key"]
    return {"required": True, "content": {"application/json": {"schema": {"oneOf": [
        {"type": "object", "title": f"JobCreate[{kind}]", "additionalProperties": False, "required": ["kind", "input"],
         "properties": {"kind": {"const": kind}, "input": {"$ref": f"#/components/schemas/{REQUEST_MODELS[kind].__name__}"},
                        "idempotency_key": key}}
        for kind in KINDS]}}}}


@router.post("", status_code=202, response_model=Job, responses={**SUBMIT_RESPONSES, 202: {"links": job_links("/id")}},
             openapi_extra={"requestBody": _body_by_kind()},
             summary="Submit a job; the same idempotency key with the same input returns the same job")
async def create_job(body: JobCreate, request: Request, backend: BackendDep, metrics: MetricsDep,
                     idempotency_key: IdempotencyHeader = None) -> Response:
    if body.idempotency_key and idempotency_key and body.idempotency_key != idempotency_key:
        raise CapabilityError(VALIDATION_ERROR, "Idempotency-Key header and body idempotency_key differ", http_status=422)
    job = await submit_tracked(request, backend, metrics, body.kind, body.input, body.idempotency_key or idempotency_key)
    return job_response(job, 202)


@router.get("", response_model=Job, responses=LOOKUP_RESPONSES,
            summary="Find the job submitted with an idempotency key (404 `not_found` when a POST with it would create a new one)")
async def find_job(request: Request, backend: BackendDep, metrics: MetricsDep,
                   idempotency_key: IdempotencyQuery, kind: KindQuery = None) -> Response:
    """The job a `POST /v1/jobs` with this key would be answered with, read without submitting anything.

    Keys are global (one job per key, whatever its kind). A key the backend no longer holds
    (on Modal, an expired entry of the jobs Dict) is `not_found`, as a POST would then
    create a new job. `submission_in_progress` is only about this server process.
    """
    pending = in_flight(request).pending(idempotency_key, kind)  # before the read: a POST that ends in between is found
    job = await to_thread.run_sync(find_by_idempotency_key, backend, idempotency_key)
    if job is not None and (kind is None or job.kind == kind):
        metrics.observe(job)
        return job_response(job)
    if job is not None:
        raise CapabilityError(NOT_FOUND, f"no {kind} job with idempotency key {idempotency_key!r} "
                                         f"(the key belongs to a {job.kind} job)", http_status=404)
    if pending:
        err = CapabilityError(SUBMISSION_IN_PROGRESS, f"no job with idempotency key {idempotency_key!r} yet: a submission "
                                                      "with it is in progress; look again", retryable=True, http_status=404)
        err.retry_after = RETRY_LOOKUP_S
        raise err
    raise CapabilityError(NOT_FOUND, f"no job with idempotency key {idempotency_key!r}", http_status=404)


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


CANCEL_RESPONSES: dict[int | str, dict] = {
    **NOT_FOUND_RESPONSE,
    200: {"description": "The job is over: `cancelled` by this request, or finished before it (returned unchanged)."},
    202: {"model": Job, "description": "Cancel requested, not yet effective: the job is still `queued`/`running` while its "
                                       "worker is being stopped. It ends `cancelled` (or in the status it was reaching as the "
                                       "cancel came); poll it or follow its events."},
}


@router.delete("/{job_id}", response_model=Job, responses=CANCEL_RESPONSES,
               summary="Cancel a job (200: over; 202: cancel requested, the job has not stopped yet)")
def cancel_job(job_id: str, backend: BackendDep, metrics: MetricsDep) -> Response:
    job = backend.cancel(job_id)
    metrics.observe(job)
    return job_response(job, 200 if job.status.terminal else 202)


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
