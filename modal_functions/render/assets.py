"""Job assets: fetched from the artifact store into the sidecar's serve directory.

Every distinct reference of a timeline (scene images, narration, music) is resolved
with `ctx.fetch_input` (artifact key, signed URL, safe https URL, or a local path for
the CLI), checked (an image decodes, an audio file has an audio stream), then placed at
`<serve_dir>/<job>/<n><ext>`; the props handed to Remotion point at the sidecar's
loopback server. `StagedAssets.cleanup()` removes the job's folder on every path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..contract.render import Timeline
from ..errors import CapabilityError
from .timeline import BAD_ASSET, MISSING_ASSET, asset_refs

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
AUDIO_EXTS = {".mp3", ".wav", ".m4a", ".aac", ".ogg", ".opus", ".flac"}
MAX_IMAGE_PIXELS = 50_000_000  # a scene image larger than this is refused (8K is 33 MP)
_STORE_MISSING = {"artifact_not_found", "not_found"}


@dataclass
class StagedAssets:
    folder: Path
    urls: dict[str, str]  # reference -> URL the browser loads

    def props(self, timeline: Timeline) -> dict[str, Any]:
        """The Remotion input props: the timeline with every reference swapped for its URL."""
        props = timeline.model_dump(mode="json")
        for scene in props["scenes"]:
            scene["image"] = self.urls[scene["image"]]
        for key in ("narration", "music"):
            if props.get(key):
                props[key] = self.urls[props[key]]
        return props

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def stage_assets(
    timeline: Timeline,
    fetch: Callable[[str, str], Path],
    serve_dir: Path,
    base_url: str,
    *,
    heartbeat: Callable[[], None] | None = None,
) -> StagedAssets:
    folder = serve_dir / uuid.uuid4().hex
    folder.mkdir(parents=True)
    staged = StagedAssets(folder=folder, urls={})
    try:
        for n, (ref, use) in enumerate(asset_refs(timeline).items()):
            try:
                local = fetch(ref, "")
            except CapabilityError as e:
                missing = e.code in _STORE_MISSING or e.http_status == 404 or e.message.startswith("no such file")
                code = MISSING_ASSET if missing else e.code
                raise CapabilityError(code, f"{use}: cannot fetch {ref!r}: {e.message}", retryable=e.retryable, http_status=422 if code == MISSING_ASSET else e.http_status) from e
            ext = _kind_ext(local, use)
            _check(local, use, ext)
            name = f"{n}{ext}"
            shutil.move(str(local), folder / name)
            staged.urls[ref] = f"{base_url}/{folder.name}/{name}"
            if heartbeat is not None:
                heartbeat()
        return staged
    except BaseException:
        staged.cleanup()
        raise


def _kind_ext(path: Path, use: str) -> str:
    ext = path.suffix.lower()
    if use.startswith("scenes"):
        return ext if ext in IMAGE_EXTS else _sniff_image_ext(path, use)
    return ext if ext in AUDIO_EXTS else ".audio"


def _sniff_image_ext(path: Path, use: str) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt = (im.format or "").lower()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise CapabilityError(BAD_ASSET, f"{use}: not an image ({e})", http_status=422) from e
    return {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif"}.get(fmt, ".png")


def _check(path: Path, use: str, ext: str) -> None:
    if path.stat().st_size == 0:
        raise CapabilityError(BAD_ASSET, f"{use}: the file is empty", http_status=422)
    if use.startswith("scenes"):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im.verify()
                width, height = im.size
        except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
            raise CapabilityError(BAD_ASSET, f"{use}: not a readable image ({e})", http_status=422) from e
        if width * height > MAX_IMAGE_PIXELS:
            # chromium would decode all of it for every frame the scene is on screen
            raise CapabilityError(BAD_ASSET, f"{use}: {width}x{height} is over {MAX_IMAGE_PIXELS // 1_000_000} megapixels", http_status=422)
        return
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=codec_name", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    streams = json.loads(proc.stdout or "{}").get("streams", []) if proc.returncode == 0 else []
    if not streams:
        raise CapabilityError(BAD_ASSET, f"{use}: no audio stream in the file", http_status=422)
