"""One artifact store per deployment: `get_store()` picks it from the settings.

- `ARTIFACT_STORE=local` (default): `LocalStore` under `CANVASCAST_DATA_DIR/store`, read
  through HMAC-signed URLs served by the compute plane (`/v1/artifacts/{key}`).
- `ARTIFACT_STORE=supabase`: `SupabaseStore` (needs SUPABASE_URL and
  SUPABASE_SERVICE_ROLE_KEY). A deployment that mixes in-house and Modal backends must
  use it: a Modal container cannot see the in-house disk.

Keys: `artifacts/sha256/<aa>/<sha256>.<ext>` and `renders/<owner>/<id>.<ext>` (see keys.py).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from .base import UPLOADS_DIR, ArtifactStore
from .keys import artifact_key, content_type_for, parse_key, published_key

LOCAL_STORE_DIR = "store"  # the local store's root under $CANVASCAST_DATA_DIR

if TYPE_CHECKING:
    from ..settings import Settings
    from .signing import UrlSigner

__all__ = ["ArtifactStore", "get_store", "get_signer", "artifact_key", "published_key", "parse_key", "content_type_for"]


class StoreConfigError(ConfigError, RuntimeError):
    """A store that cannot be set up as configured. A ConfigError, so the CLI says one
    `error [config]` line, exit 2; still a RuntimeError for callers that caught that."""


def signing_secret(settings: "Settings") -> str:
    """ARTIFACT_SIGNING_SECRET, or the random secret persisted in the data dir."""
    if settings.signing_secret:
        return settings.signing_secret
    from .signing import load_or_create_secret

    return load_or_create_secret(settings.data_dir)


def get_signer(settings: "Settings | None" = None) -> "UrlSigner":
    """The signer for `/v1/artifacts/{key}?exp&sig` URLs of this deployment."""
    from ..settings import get_settings
    from .signing import UrlSigner

    settings = settings or get_settings()
    return UrlSigner(signing_secret(settings), settings.base_url)


@lru_cache(maxsize=8)
def _supabase_store(url: str, key: str, bucket: str, renders_bucket: str, spool_dir: Path, pid: int) -> ArtifactStore:
    """One client per process and configuration: building a supabase client costs ~0.5 s,
    and its connections must not be shared across a fork (hence the pid in the cache key)."""
    from .supabase_store import SupabaseStore

    return SupabaseStore.connect(url, key, artifacts_bucket=bucket, renders_bucket=renders_bucket, spool_dir=spool_dir)


def sweep_spools_at_start(settings: "Settings") -> int:
    """Remove the spools a crash left on this data dir (base.sweep_dead_spools: only those no live
    process holds, so other processes writing here meanwhile are safe); returns how many."""
    from .base import sweep_dead_spools
    from .local import TMP_DIR

    data_dir = Path(settings.data_dir)
    dirs = [data_dir / UPLOADS_DIR] + ([data_dir / LOCAL_STORE_DIR / TMP_DIR] if settings.store == "local" else [])
    return sum(sweep_dead_spools(d) for d in dirs)


def get_store(settings: "Settings | None" = None) -> ArtifactStore:
    from ..settings import get_settings

    settings = settings or get_settings()
    if settings.store == "supabase":
        missing = [name for name, value in (("SUPABASE_URL", settings.supabase_url), ("SUPABASE_SERVICE_ROLE_KEY", settings.supabase_key)) if not value]
        if missing:
            raise StoreConfigError(f"ARTIFACT_STORE=supabase needs {' and '.join(missing)}")
        # uploads spool there (api/routers/artifacts.py): the store's cleanup removes what a crash left
        return _supabase_store(settings.supabase_url, settings.supabase_key, settings.supabase_bucket,
                               settings.supabase_renders_bucket, Path(settings.data_dir) / UPLOADS_DIR, os.getpid())
    from .local import LocalStore

    if settings.backend == "modal":
        from ..logs import get_logger

        get_logger(__name__).warning(
            "ARTIFACT_STORE=local with COMPUTE_BACKEND=modal: Modal containers cannot see this disk; "
            "a deployment that mixes in-house and Modal must use ARTIFACT_STORE=supabase")
    return LocalStore(settings.data_dir / LOCAL_STORE_DIR, settings.base_url, signing_secret(settings))
