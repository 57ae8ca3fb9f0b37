"""The job contract: what every backend (in-house or Modal) answers about a job.

This module is the single source of truth. `make types` turns it into JSON Schema
and TypeScript for the worker (packages/shared-types); a test fails on drift.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["generate_images", "transcribe_audio", "render_video", "diagnostic"]
KINDS: tuple[str, ...] = ("generate_images", "transcribe_audio", "render_video", "diagnostic")

BackendName = Literal["inhouse", "modal"]


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN would pass every < check and reach JSON.parse in node


class Progress(Strict):
    done: float = 0
    total: float | None = None
    unit: str = "steps"
    message: str = ""


class JobError(Strict):
    code: str = Field(description="Machine-readable error code, e.g. stalled, timeout, no_image.")
    message: str
    retryable: bool = False


class Cost(Strict):
    resource: str = Field(description="Priced resource, e.g. 'cpu:2', 'A10G', 'inhouse'.")
    seconds: float
    usd: float


class Job(Strict):
    id: str
    kind: Kind
    status: JobStatus
    progress: Progress = Field(default_factory=Progress)
    input: dict[str, Any]
    result: dict[str, Any] | None = None
    error: JobError | None = None
    attempts: int = 0
    idempotency_key: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    backend: BackendName
    cold_start: bool | None = None
    queue_seconds: float | None = None
    cost: Cost | None = None

    @classmethod
    def queued(cls, id: str, kind: str, input: dict[str, Any], idempotency_key: str | None, backend: str, now: datetime) -> "Job":
        """A just-submitted job, as every backend records it before anything runs."""
        return cls(id=id, kind=kind, status=JobStatus.queued, input=input, idempotency_key=idempotency_key,
                   created_at=now, updated_at=now, backend=backend)


class JobCreate(Strict):
    model_config = ConfigDict(strict=True)  # a request: JSON's types exactly as the schema says

    kind: Kind
    input: dict[str, Any]
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """The PRD's `{success, data, error}` envelope, returned by synchronous calls."""

    success: bool
    data: T | None = None
    error: JobError | None = None
    job: Job | None = None


class WarmRequest(Strict):
    model_config = ConfigDict(strict=True)  # a request: `false` is not 0, "60" is not 60

    kinds: list[Kind] = Field(min_length=1)
    ttl_s: int = Field(ge=1, le=24 * 3600)
    min_containers: int | None = Field(default=None, ge=0, le=100, description="Modal only.")


class WarmLease(Strict):
    id: str
    kinds: list[Kind]
    min_containers: int | None = None
    expires_at: datetime
    backend: BackendName


class KindCapacity(Strict):
    workers: int
    busy: int
    queued: int
    queue_limit: int
    free: int = Field(description="Jobs this kind accepts right now before answering 429.")
    warm: bool


class Health(Strict):
    status: Literal["ok", "degraded"]
    backend: BackendName
    version: str
    capabilities: list[Kind]
    warm: dict[str, bool]
    capacity: dict[str, KindCapacity]


class ArtifactRef(Strict):
    key: str = Field(description="artifacts/sha256/<aa>/<hash>.<ext> or renders/<owner>/<id>.<ext>")
    sha256: str
    size: int
    content_type: str
    url: str | None = Field(default=None, description="Signed, expiring read URL.")


class ErrorBody(Strict):
    """Body of every 4xx/5xx answer from the HTTP API."""

    error: JobError
