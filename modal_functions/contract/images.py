"""generate_images: prompts + style in, one artifact per prompt out (issue 6 owns the details)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .jobs import ArtifactRef, JobError, Strict

AspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4"]


class ImageStyle(Strict):
    art_style: str = Field(default="flat vector illustration", max_length=200)
    palette: list[str] = Field(default_factory=list, max_length=8, description="Hex colours, e.g. #1f6feb.")
    aspect_ratio: AspectRatio = "16:9"
    avoid: list[str] = Field(default_factory=list, max_length=20)


class GenerateImagesRequest(Strict):
    prompts: list[str] = Field(min_length=1, max_length=50)
    style: ImageStyle = Field(default_factory=ImageStyle)
    model: str | None = Field(default=None, description="Overrides the configured Gemini image model.")


class ImageItem(Strict):
    index: int
    prompt: str
    status: Literal["ok", "placeholder", "failed"]
    artifact: ArtifactRef | None = None
    generator: Literal["google-genai", "placeholder"] | None = None
    model: str | None = None
    cached: bool = False
    cost_usd: float = 0.0
    attempts: int = 0
    error: JobError | None = None


class GenerateImagesResult(Strict):
    images: list[ImageItem]
    succeeded: int
    failed: int
    degraded: bool = Field(description="True when any image is a placeholder.")
