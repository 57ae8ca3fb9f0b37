"""generate_images: prompts + style in, one artifact per prompt out.

A batch reports per-prompt outcomes: one bad prompt never sinks the others. A
placeholder (the local generator, used when no provider is configured or when the
fallback policy allows it) marks the whole result `degraded`, so whatever is built
on it is visibly degraded, never silently shipped.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .jobs import ArtifactRef, JobError, Strict

AspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4"]
HexColour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ImageStyle(Strict):
    art_style: str = Field(default="flat vector illustration", max_length=200)
    palette: list[HexColour] = Field(default_factory=list, max_length=8, description="Hex colours, e.g. #1f6feb.")
    aspect_ratio: AspectRatio = "16:9"
    avoid: list[ShortText] = Field(default_factory=list, max_length=20, description="Things the image must not show.")


class GenerateImagesRequest(Strict):
    prompts: list[Prompt] = Field(min_length=1, max_length=50)
    style: ImageStyle = Field(default_factory=ImageStyle)
    model: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$",
        description="Overrides the configured Gemini image model.",
    )


class ImageItem(Strict):
    index: int = Field(description="Position of the prompt in the request.")
    prompt: str
    status: Literal["ok", "placeholder", "failed"]
    artifact: ArtifactRef | None = None
    generator: Literal["google-genai", "placeholder"] | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    cached: bool = Field(default=False, description="Served from the artifact-store cache: no API charge.")
    cost_usd: float = Field(default=0.0, description="Provider charge for this image (0 when cached or a placeholder).")
    attempts: int = Field(default=0, description="Upstream calls made for this image.")
    error: JobError | None = Field(
        default=None, description="Why it failed; for a placeholder, why the provider was not used."
    )


class GenerateImagesResult(Strict):
    images: list[ImageItem]
    succeeded: int = Field(description="Items with status ok or placeholder.")
    failed: int
    placeholders: int = 0
    cost_usd: float = 0.0
    degraded: bool = Field(description="True when any image is a placeholder.")
