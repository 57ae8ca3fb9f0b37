"""render_video: a timeline in, a verified MP4 artifact out (issue 5 owns the details).

Timeline field names are camelCase so they pass straight through as Remotion input props.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .align import Caption
from .jobs import ArtifactRef, Strict


class Framing(Strict):
    """Ken Burns framing: zoom >= 1 and the centre point in 0..1 image coordinates."""

    zoom: float = Field(default=1.0, ge=1.0, le=4.0)
    x: float = Field(default=0.5, ge=0.0, le=1.0)
    y: float = Field(default=0.5, ge=0.0, le=1.0)


class Scene(Strict):
    image: str = Field(min_length=1, max_length=4096)
    startMs: float = Field(ge=0)
    endMs: float = Field(gt=0)
    kenBurnsFrom: Framing = Field(default_factory=Framing)
    kenBurnsTo: Framing = Field(default_factory=lambda: Framing(zoom=1.15))
    transition: Literal["cut", "fade", "slide"] = "fade"


class Timeline(Strict):
    aspectRatio: Literal["16:9", "9:16", "1:1"] = "16:9"
    height: Literal[360, 480, 720, 1080] = 720
    fps: Literal[24, 25, 30, 60] = 30
    durationMs: float = Field(gt=0, le=15 * 60 * 1000)
    title: str | None = Field(default=None, max_length=200)
    scenes: list[Scene] = Field(min_length=1, max_length=500)
    narration: str | None = None
    captions: list[Caption] = Field(default_factory=list)
    music: str | None = None
    musicVolume: float = Field(default=0.25, ge=0, le=1)
    degraded: bool = False


class RenderVideoRequest(Strict):
    timeline: Timeline
    chunks: int | None = Field(default=None, ge=1, le=64, description="Force a chunk count; default chosen from frames and free workers.")


class RenderVideoResult(Strict):
    video: ArtifactRef
    durationMs: float
    frames: int
    width: int
    height: int
    fps: int
    chunks: int
    degraded: bool = False
