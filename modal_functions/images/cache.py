"""The image cache, kept in the artifact store itself: same prompt, style and model ->
the same artifact, with no second API charge.

The index entry for a request is a small JSON pointer published at
`renders/image-cache/<sha256 of the canonical request>.json`, naming the
content-addressed image artifact. The `ArtifactStore` protocol has no
"put at this key", so the pointer is written with `put_bytes` and then `publish`ed
to its fixed name. A hit is only a hit when the image it points to still exists
(retention may have removed it). Cache trouble never fails a generation: a broken
index is a miss, a failed write is logged.

A hit restarts the image's retention clock (`ArtifactStore.touch`), and the pointer's.
Retention (`canvascast artifacts cleanup`, ARTIFACT_RETENTION_DAYS) counts from an
artifact's last write; without the touch, a job served a week-old cached image could
see it deleted by the next cleanup while the job, or the render using it, still needs
it. The other option, skipping entries close to the retention and generating again,
would charge the API again for a picture we hold, once a retention period per prompt;
users expect a hit to be free and its image to live as long as a fresh one. Touching is
cheap: an mtime update locally; on Supabase one `info` request, plus a re-upload of the
same bytes at most once an hour per object (Storage has no other way to move an
object's age; see `SupabaseStore.touch`).

Placeholders never go through here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from pydantic import ValidationError

from ..contract.images import ImageStyle
from ..contract.jobs import ArtifactRef
from ..storage.base import ArtifactStore

log = logging.getLogger(__name__)

OWNER = "image-cache"
VERSION = 1


@dataclass(frozen=True)
class CachedImage:
    artifact: ArtifactRef
    model: str
    width: int
    height: int


def cache_key(prompt: str, style: ImageStyle, model: str) -> str:
    """sha256 of the canonical request: everything that changes the picture, nothing else."""
    canonical = {
        "v": VERSION,
        "prompt": " ".join(prompt.split()),
        "style": {
            "art_style": " ".join(style.art_style.split()),
            "palette": [c.lower() for c in style.palette],
            "aspect_ratio": style.aspect_ratio,
            "avoid": list(style.avoid),
        },
        "model": model,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def pointer_key(key: str) -> str:
    return f"renders/{OWNER}/{key}.json"


class ImageCache:
    def __init__(self, store: ArtifactStore):
        self.store = store

    def get(self, key: str) -> CachedImage | None:
        try:
            if not self.store.exists(pointer_key(key)):
                return None
            entry = json.loads(self.store.read_bytes(pointer_key(key)))
            if entry.get("v") != VERSION or entry.get("key") != key:
                return None
            ref = ArtifactRef.model_validate(entry["artifact"])
            hit = CachedImage(ref, entry["model"], int(entry["width"]), int(entry["height"]))
            if not self._refresh(ref.key):  # removed by retention: generate again
                return None
        except (ValueError, KeyError, TypeError, ValidationError, OSError) as e:
            log.warning("image cache entry unreadable; treating as a miss", extra={"cache_key": key, "error": str(e)})
            return None
        except Exception as e:  # storage outage: a miss, never a failure
            log.warning("image cache lookup failed", extra={"cache_key": key, "error": repr(e)})
            return None
        try:  # the pointer too (renders/ is only cleaned with --include-renders); failing this is no miss
            self._refresh(pointer_key(key))
        except Exception as e:
            log.warning("image cache pointer refresh failed", extra={"cache_key": key, "error": repr(e)})
        return hit

    def _refresh(self, key: str) -> bool:
        """Restart `key`'s retention clock; False when it is gone. A store without `touch`
        (a test double) can only say whether it exists."""
        touch = getattr(self.store, "touch", None)
        if touch is None:
            return self.store.exists(key)
        return bool(touch(key))

    def put(self, key: str, image: CachedImage) -> None:
        entry = {
            "v": VERSION,
            "key": key,
            "artifact": image.artifact.model_dump(mode="json", exclude={"url"}),
            "model": image.model,
            "width": image.width,
            "height": image.height,
        }
        try:
            ref = self.store.put_bytes(json.dumps(entry, sort_keys=True).encode(), "json", "application/json")
            self.store.publish(ref.key, OWNER, key)
        except Exception as e:
            log.warning("image cache write failed", extra={"cache_key": key, "error": repr(e)})
