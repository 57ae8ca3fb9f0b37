"""Timeline checks and arithmetic, before any render starts.

The pydantic `Timeline` checks each field; this module checks what needs several
fields (times in order, no overlap, inside the duration) and computes what the
Remotion composition computes from the same props (size, frame count), so Python and
TypeScript agree on every number (src/Explainer/dimensions.ts does the same sums).
Every failure is a `CapabilityError` with a 4xx status and a machine-readable code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..contract.render import Timeline
from ..errors import CapabilityError

INVALID_TIMELINE = "invalid_timeline"
MISSING_ASSET = "missing_asset"
BAD_ASSET = "bad_asset"
UNSUPPORTED_SIZE = "unsupported_size"

SUPPORTED_RESOLUTIONS = (360, 480, 720, 1080)
# Upper bound on frames x pixels of one render (15 min of 1080p60 is 112 Gpx): guards the
# worker from a request that would run for hours.
MAX_FRAMES = 15 * 60 * 60


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    fps: int
    frames: int

    @property
    def frame_ms(self) -> float:
        return 1000.0 / self.fps

    def composition(self) -> dict[str, int]:
        """What the composition's calculateMetadata returns for the same props."""
        return {"width": self.width, "height": self.height, "fps": self.fps, "durationInFrames": self.frames}


def dimensions(aspect_ratio: str, resolution: int) -> tuple[int, int]:
    """Width and height for a short side (`resolution`); always even."""
    if resolution not in SUPPORTED_RESOLUTIONS:
        raise CapabilityError(
            UNSUPPORTED_SIZE, f"resolution {resolution} is not one of {SUPPORTED_RESOLUTIONS}", http_status=422
        )
    long = _round_half_up(resolution * 16 / 9 / 2) * 2
    if aspect_ratio == "16:9":
        return long, resolution
    if aspect_ratio == "9:16":
        return resolution, long
    if aspect_ratio == "1:1":
        return resolution, resolution
    raise CapabilityError(UNSUPPORTED_SIZE, f"aspect ratio {aspect_ratio!r} is not one of 16:9, 9:16, 1:1", http_status=422)


def ms_to_frame(ms: float, fps: int) -> int:
    """Same as the composition's `Math.round(ms * fps / 1000)` (round half up)."""
    return _round_half_up(ms * fps / 1000)


def geometry(timeline: Timeline) -> Geometry:
    width, height = dimensions(timeline.aspectRatio, timeline.resolution)
    frames = max(1, ms_to_frame(timeline.durationMs, timeline.fps))
    return Geometry(width=width, height=height, fps=timeline.fps, frames=frames)


def check_timeline(timeline: Timeline) -> Geometry:
    """Raise a 422 `CapabilityError` naming the first problem; return the geometry."""
    geo = geometry(timeline)
    if geo.frames > MAX_FRAMES:
        raise CapabilityError(UNSUPPORTED_SIZE, f"{geo.frames} frames is more than the {MAX_FRAMES} allowed", http_status=422)
    duration = timeline.durationMs
    previous_end = 0.0
    for i, scene in enumerate(timeline.scenes):
        where = f"scenes[{i}]"
        if scene.startMs < 0 or scene.endMs < 0:
            _bad(f"{where}: negative time")
        if scene.endMs <= scene.startMs:
            _bad(f"{where}: endMs {scene.endMs:g} must be after startMs {scene.startMs:g}")
        if scene.startMs < previous_end:
            _bad(f"{where}: starts at {scene.startMs:g} ms, before the previous scene ends ({previous_end:g} ms); scenes must not overlap")
        if scene.endMs > duration:
            _bad(f"{where}: ends at {scene.endMs:g} ms, after the timeline's durationMs {duration:g}")
        if ms_to_frame(scene.endMs, timeline.fps) <= ms_to_frame(scene.startMs, timeline.fps):
            _bad(f"{where}: shorter than one frame at {timeline.fps} fps")
        previous_end = scene.endMs
    previous_end = 0.0
    for i, word in enumerate(timeline.captions):
        where = f"captions[{i}] ({word.text!r})"
        if word.startMs < 0 or word.endMs < 0:
            _bad(f"{where}: negative time")
        if word.endMs < word.startMs:
            _bad(f"{where}: endMs {word.endMs:g} is before startMs {word.startMs:g}")
        if word.startMs < previous_end:
            _bad(f"{where}: starts at {word.startMs:g} ms, before the previous word ends ({previous_end:g} ms); words must be in order and not overlap")
        if word.endMs > duration:
            _bad(f"{where}: ends at {word.endMs:g} ms, after the timeline's durationMs {duration:g}")
        previous_end = word.endMs
    if timeline.title is not None and not timeline.title.strip():
        _bad("title is empty; leave it out for no title card")
    images = {scene.image for scene in timeline.scenes}
    for use, ref in (("narration", timeline.narration), ("music", timeline.music)):
        if ref and ref in images:
            # each asset is checked once, as its first use: as an image it would pass, and
            # the video would render silently
            _bad(f"{use}: {ref!r} is also a scene image; audio and images must be different files")
    return geo


def asset_refs(timeline: Timeline) -> dict[str, str]:
    """Every distinct asset reference -> what it is for (first use), in timeline order."""
    refs: dict[str, str] = {}
    for i, scene in enumerate(timeline.scenes):
        refs.setdefault(scene.image, f"scenes[{i}].image")
    if timeline.narration:
        refs.setdefault(timeline.narration, "narration")
    if timeline.music:
        refs.setdefault(timeline.music, "music")
    return refs


def _bad(message: str) -> None:
    raise CapabilityError(INVALID_TIMELINE, message, http_status=422)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))
