"""The artifact store interface: one store per deployment, shared by every backend and the worker.

Keys are content-addressed (`artifacts/sha256/<aa>/<hash>.<ext>`); published results
live at `renders/<owner>/<id>.<ext>`. Implementations: `local.LocalStore` (default)
and `supabase_store.SupabaseStore` (production).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..contract.jobs import ArtifactRef
from ..errors import BAD_REQUEST, STORAGE_UNAVAILABLE, CapabilityError


class ArtifactStore(Protocol):
    def put_bytes(self, data: bytes, ext: str, content_type: str | None = None) -> ArtifactRef: ...

    def put_file(self, path: Path, ext: str, content_type: str | None = None) -> ArtifactRef: ...

    def get_to_file(self, key: str, dest: Path) -> Path: ...

    def read_bytes(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def signed_url(self, key: str, expires_in: int = 3600) -> str:
        """A read URL for a stored key; `expires_in` in 1..signing.MAX_EXPIRES_IN (`bad_request`
        otherwise), a missing key is `artifact_not_found`."""
        ...

    def touch(self, key: str) -> bool:
        """Restart `key`'s retention clock (cleanup counts from the last write or touch);
        False when it is not stored. Both stores have it; a store without it cannot refresh
        ages (the image cache then only checks `exists`)."""
        ...

    def publish(self, key: str, owner: str, id: str) -> ArtifactRef:
        """Server-side copy of `key` to `renders/<owner>/<id>.<ext>`."""
        ...

    def cleanup(self, older_than_seconds: float) -> int:
        """Remove artifacts older than the retention; returns how many."""
        ...


# Spools: temp files (`*.part`) a write streams into before the store takes them, removed when
# the write ends. A process killed mid-write leaves its spool behind; cleanup removes those.

STALE_SPOOL_SECONDS = 3600.0  # no write spends an hour between touches of its spool: older is a crash's leftover
UPLOADS_DIR = "uploads"  # `POST /v1/artifacts` spools in $CANVASCAST_DATA_DIR/uploads unless the store is local


def remove_stale_spools(directory: Path, now: float) -> None:
    """Remove the `*.part` files in `directory` untouched for STALE_SPOOL_SECONDS. Younger ones are
    left: a write in progress, in this process or another on the same data dir, may still use them."""
    cutoff = now - STALE_SPOOL_SECONDS
    for path in directory.glob("*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


# Errors about files the caller handed us. Their messages never carry the path: it may be
# a spool or scratch file of ours (an upload, a job's workdir), and the caller knows its own path.


def unreadable_source(e: OSError) -> CapabilityError:
    """`put_file` could not read its file."""
    return CapabilityError(BAD_REQUEST, f"cannot read the file to store: {e.strerror or type(e).__name__}", http_status=400)


def copy_failed(key: str, e: OSError) -> CapabilityError:
    """`get_to_file` could not write the caller's copy (full disk, no permission)."""
    return CapabilityError(STORAGE_UNAVAILABLE, f"could not write a local copy of {key}: {e.strerror or type(e).__name__}",
                           retryable=True, http_status=503)
