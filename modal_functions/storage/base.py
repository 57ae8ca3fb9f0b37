"""The artifact store interface: one store per deployment, shared by every backend and the worker.

Keys are content-addressed (`artifacts/sha256/<aa>/<hash>.<ext>`); published results
live at `renders/<owner>/<id>.<ext>`. Implementations: `local.LocalStore` (default)
and `supabase_store.SupabaseStore` (production).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..contract.jobs import ArtifactRef


class ArtifactStore(Protocol):
    def put_bytes(self, data: bytes, ext: str, content_type: str | None = None) -> ArtifactRef: ...

    def put_file(self, path: Path, ext: str, content_type: str | None = None) -> ArtifactRef: ...

    def get_to_file(self, key: str, dest: Path) -> Path: ...

    def read_bytes(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def signed_url(self, key: str, expires_in: int = 3600) -> str: ...

    def publish(self, key: str, owner: str, id: str) -> ArtifactRef:
        """Server-side copy of `key` to `renders/<owner>/<id>.<ext>`."""
        ...

    def cleanup(self, older_than_seconds: float) -> int:
        """Remove artifacts older than the retention; returns how many."""
        ...
