"""render_video: a timeline in, a verified MP4 artifact out (issue 5).

Timeline field names are camelCase so they pass straight through as Remotion input
props: the Explainer composition's zod schema
(modal_functions/render/remotion/src/Explainer/schema.ts) mirrors these models field for
field, and tests/render/test_schema_parity.py keeps the two in line. Checks that need
more than one field (times in order, no overlap, inside the duration) live in
modal_functions/render/timeline.py and run before any render.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .align import Caption
from .jobs import ArtifactRef, Strict

AspectRatio = Literal["16:9", "9:16", "1:1"]
Resolution = Literal[360, 480, 720, 1080]
Fps = Literal[24, 25, 30, 60]
Transition = Literal["cut", "fade", "slide"]

MAX_DURATION_MS = 15 * 60 * 1000


class Framing(Strict):
    """Ken Burns framing: zoom >= 1 around a centre point in 0..1 image coordinates."""

    zoom: float = Field(default=1.0, ge=1.0, le=4.0)
    x: float = Field(default=0.5, ge=0.0, le=1.0)
    y: float = Field(default=0.5, ge=0.0, le=1.0)


class Scene(Strict):
    image: str = Field(min_length=1, max_length=4096, description="Artifact key, signed URL or safe https URL.")
    startMs: float = Field(ge=0)
    endMs: float = Field(gt=0)
    kenBurnsFrom: Framing = Field(default_factory=Framing)
    kenBurnsTo: Framing = Field(default_factory=lambda: Framing(zoom=1.15))
    transition: Transition = Field(default="fade", description="How this scene enters (over transitionMs).")


class Timeline(Strict):
    aspectRatio: AspectRatio = "16:9"
    resolution: Resolution = Field(default=720, description="Short side in pixels: 720 is 1280x720, 720x1280 or 720x720.")
    fps: Fps = 30
    durationMs: float = Field(gt=0, le=MAX_DURATION_MS)
    title: str | None = Field(default=None, max_length=200)
    titleMs: float = Field(default=3000, ge=0, le=60_000, description="How long the title card shows.")
    scenes: list[Scene] = Field(min_length=1, max_length=500)
    transitionMs: float = Field(default=500, ge=0, le=5000)
    narration: str | None = Field(default=None, max_length=4096, description="Narration audio reference.")
    captions: list[Caption] = Field(default_factory=list, max_length=20_000)
    music: str | None = Field(default=None, max_length=4096, description="Background music reference (looped).")
    musicVolume: float = Field(default=0.25, ge=0, le=1)
    musicDuckedVolume: float = Field(default=0.08, ge=0, le=1, description="Music volume while narration speaks.")
    highlightColor: str = Field(default="#FFD400", pattern=r"^#[0-9a-fA-F]{6}$")
    degraded: bool = False


class RenderVideoRequest(Strict):
    timeline: Timeline
    chunks: int | None = Field(default=None, ge=1, le=64, description="Force a chunk count (capped so every chunk has at least 5 frames); default chosen from frames and free workers.")


class RenderVideoResult(Strict):
    video: ArtifactRef
    durationMs: float
    frames: int
    width: int
    height: int
    fps: int
    chunks: int
    renderSeconds: float = 0.0
    degraded: bool = False
