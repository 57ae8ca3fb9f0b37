"""`POST /v1/{kind}`: the synchronous shortcut with the PRD's `{success, data, error}` envelope.

It submits, then waits at most `sync_wait_s` (120 s, below Modal's 150 s web limit).
Finished in time: 200 with the envelope (success=false and the job's error when it
failed). Still running: 202 with the Job, to poll at /v1/jobs/{id}.
"""


from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse

from ...contract import REQUEST_MODELS, RESULT_MODELS
from ...contract.jobs import KINDS, Envelope, Job, JobStatus
from ...errors import NOT_FOUND, UNKNOWN_KIND, CapabilityError
from ..dependencies import BackendDep, MetricsDep, SettingsDep, require_token
from ..errors import COMMON_RESPONSES, SUBMIT_RESPONSES
from ..links import job_links
from ..submission import HEADER_KEY_PATTERN, HEADER_KEY_RULE, submit_tracked, wait_for

router = APIRouter(prefix="/v1", tags=["sync"], dependencies=[Depends(require_token)], responses=COMMON_RESPONSES)

IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                                 pattern=HEADER_KEY_PATTERN, description="Same key + same input = same job. " + HEADER_KEY_RULE)]


def envelope(job: Job) -> dict[str, Any]:
    ok = job.status == JobStatus.succeeded
    return Envelope[dict[str, Any]](success=ok, data=job.result if ok else None, error=job.error, job=job).model_dump(mode="json")


def _endpoint(kind: str):
    request_model = REQUEST_MODELS[kind]

    async def run_sync(
        request: Request,
        body: Annotated[request_model, Body()],  # type: ignore[valid-type]  (documents and validates the input)
        backend: BackendDep,
        metrics: MetricsDep,
        settings: SettingsDep,
        idempotency_key: IdempotencyHeader = None,
    ) -> JSONResponse:
        raw = await request.json()  # submit what the caller sent, not a re-dump with defaults
        job = await submit_tracked(request, backend, metrics, kind, raw, idempotency_key)
        job = await wait_for(request, backend, job.id, settings.sync_wait_s, metrics)
        if not job.status.terminal:
            return JSONResponse(job.model_dump(mode="json"), status_code=202)
        return JSONResponse(envelope(job), status_code=200)

    run_sync.__name__ = f"run_{kind}"
    return run_sync


for _kind in KINDS:
    router.add_api_route(
        f"/{_kind}",
        _endpoint(_kind),
        methods=["POST"],
        summary=f"Run {_kind} and wait (at most COMPUTE_SYNC_WAIT_S)",
        responses={
            200: {"model": Envelope[RESULT_MODELS[_kind]], "description": "Finished: the envelope.",  # type: ignore[index]
                  "links": job_links("/job/id")},
            202: {"model": Job, "description": "Still running after the sync wait: poll /v1/jobs/{id}.", "links": job_links("/id")},
            **SUBMIT_RESPONSES,
        },
    )


@router.post("/{kind}", include_in_schema=False)
def unknown_kind(kind: str) -> None:
    if kind.startswith("_"):  # admin-style paths (e.g. /v1/_faults when fault injection is off)
        raise CapabilityError(NOT_FOUND, f"no route POST /v1/{kind}", http_status=404)
    raise CapabilityError(UNKNOWN_KIND, f"unknown kind {kind!r}; expected one of {sorted(KINDS)}", http_status=400)
