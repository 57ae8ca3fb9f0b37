"""The worker's render request (issue 7): script scenes + narration -> one MP4.

The product pipeline posts a `RenderRequest` to the worker (`POST /v1/renders`) or inserts
it into `render_jobs.request`. The worker turns it into a `Timeline` (render.py): images
and alignment run in parallel, scene timings come from the aligned first word of each
scene, captions are the alignment's `Caption` words. `Render` is what the worker answers
about a render job, `RenderList` a page of an owner's renders (`RenderSummary` items). Every model listed in EXPORTED reaches shared-types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from .images import ImageStyle
from .jobs import ArtifactRef, JobError, Progress, Strict

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"

RenderStatus = Literal["queued", "running", "succeeded", "failed", "dead", "cancelled"]
StepName = Literal["images", "align", "render", "publish"]
StepStatus = Literal["pending", "submitting", "running", "succeeded", "failed", "cancelled"]


class SceneInput(Strict):
    """One scene of the script: its narration and either an image prompt or a ready image."""

    narration: str = Field(min_length=1, max_length=5000)
    image_prompt: str | None = Field(default=None, min_length=1, max_length=2000)
    image: str | None = Field(default=None, min_length=1, max_length=4096, description="Artifact key or safe https URL.")

    @model_validator(mode="after")
    def _one_image_source(self) -> "SceneInput":
        if (self.image_prompt is None) == (self.image is None):
            raise ValueError("each scene needs exactly one of image_prompt or image")
        return self


class RenderRequest(Strict):
    owner: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="Owner of the render; the HTTP API fills it from the bearer token."
    )
    title: str | None = Field(default=None, max_length=200)
    scenes: list[SceneInput] = Field(min_length=1, max_length=100)
    narration_audio: str = Field(min_length=1, max_length=4096, description="Artifact key or safe https URL of the narration.")
    language: str = Field(default="en", min_length=2, max_length=8,
                          description="Narration language, a Whisper code ('en', 'de', 'zh', ...); a tag such as 'en-US' "
                                      "is read as its language by the aligner.")
    style: ImageStyle = Field(default_factory=ImageStyle)
    aspect_ratio: Literal["16:9", "9:16", "1:1"] = "16:9"
    fps: Literal[24, 25, 30, 60] = 30
    height: Literal[360, 480, 720, 1080] = 720
    music: str | None = Field(default=None, min_length=1, max_length=4096, description="Artifact key or safe https URL.")
    music_volume: float = Field(default=0.25, ge=0, le=1)


class RouteDecision(Strict):
    backend: Literal["inhouse", "modal"]
    reason: str = Field(description="e.g. inhouse_first, inhouse_capacity, inhouse_down, modal_breaker_open.")
    at: datetime


class RenderStep(Strict):
    step: StepName
    status: StepStatus
    step_attempt: int
    backend: Literal["inhouse", "modal"] | None = None
    compute_job_id: str | None = None
    idempotency_key: str | None = None
    route_reason: str | None = None
    progress: Progress = Field(default_factory=Progress)
    output: dict[str, Any] | None = None
    error: JobError | None = None


class Subtitles(Strict):
    """The narration's caption files, published beside the video for players and uploads."""

    srt: ArtifactRef = Field(description="SubRip (renders/<owner>/<id>.srt) with its signed URL.")
    vtt: ArtifactRef = Field(description="WebVTT (renders/<owner>/<id>.vtt) with its signed URL.")


class RenderOutput(Strict):
    video: ArtifactRef = Field(description="The published MP4 (renders/<owner>/<id>.mp4) with its signed URL.")
    source: ArtifactRef = Field(description="The rendered artifact it was copied from.")
    duration_ms: float
    captions: int
    subtitles: Subtitles | None = Field(
        default=None, description="The caption files, signed like the video. Null for a render published before they were."
    )
    degraded: bool = False


class RenderSummary(Strict):
    """A render without its request and steps: one item of `GET /v1/renders`.

    `status` is `queued` both for a new render and for one waiting to retry a failed
    attempt; only the latter has `next_attempt_at` (and `last_error`, the reason).
    """

    id: str
    owner: str
    status: RenderStatus
    step: StepName | None = None
    title: str | None = Field(description="The request's title.")
    attempts: int = Field(
        description="Attempts started so far, a running one included; while waiting for a retry the next is attempts + 1."
    )
    max_attempts: int
    next_attempt_at: datetime | None = Field(
        description="Set only while the render waits to retry a failed attempt (status queued): "
        "when that attempt may start. Null for a new render, and while it runs or once it ended."
    )
    idempotency_key: str | None = None
    result: RenderOutput | None = None
    error: JobError | None = Field(
        default=None, description="Why the render ended without a video: set only when status is failed, dead or cancelled."
    )
    last_error: JobError | None = Field(
        description="The most recent failed attempt's error, whatever the status (while queued for a retry: why it is "
        "retried; while a retry runs: why the attempt before it failed). Null once succeeded."
    )
    created_at: datetime
    updated_at: datetime
    run_at: datetime = Field(description="Earliest start of the next attempt (the creation time for a new render).")


class Render(RenderSummary):
    """A render with its request and per-step state: `GET /v1/renders/:id`, its events, POST and DELETE."""

    request: RenderRequest
    steps: list[RenderStep] = Field(default_factory=list)


class RenderList(Strict):
    """One page of `GET /v1/renders`: the caller's renders, newest first."""

    data: list[RenderSummary]
    has_more: bool = Field(description="More renders follow this page.")
    next_cursor: str | None = Field(
        description="Opaque; pass it as `cursor` for the next page. Null on the last page (exactly when has_more is false)."
    )


EXPORTED: dict[str, type[BaseModel]] = {
    "SceneInput": SceneInput,
    "RenderRequest": RenderRequest,
    "RouteDecision": RouteDecision,
    "RenderStep": RenderStep,
    "Subtitles": Subtitles,
    "RenderOutput": RenderOutput,
    "RenderSummary": RenderSummary,
    "Render": Render,
    "RenderList": RenderList,
}
