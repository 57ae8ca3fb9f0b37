"""Resolve a job input reference to a local file: the one way capabilities read inputs.

A reference is one of

1. an artifact key (`artifacts/sha256/…` or `renders/…`): read from the store;
2. a signed URL of this compute plane (`…/v1/artifacts/{key}?exp=&sig=`, on our own
   host or over plain http): the signature is verified with our secret, then the key
   is read from the store directly, never over the network;
3. any other https URL: `fetch.safe_fetch` with FETCH_MAX_BYTES / FETCH_TIMEOUT_S
   (private, loopback, link-local and metadata addresses refused).

Anything else (http to elsewhere, file:, data:) is `fetch_refused`. The runtime's
`TaskContext.fetch_input(ref, suffix)` is meant to call `fetch_input` with a path in
the job's workdir.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from ..errors import CapabilityError
from ..fetch import refused, safe_fetch, split_url
from .keys import parse_key

if TYPE_CHECKING:
    from ..settings import Settings
    from .base import ArtifactStore
    from .signing import UrlSigner

ARTIFACTS_PATH = "/v1/artifacts/"


def _is_key(ref: str) -> bool:
    try:
        parse_key(ref)
        return True
    except CapabilityError:
        return False


def own_signed_url(ref: str, base_url: str) -> tuple[str, str | None, str | None] | None:
    """(key, exp, sig) when `ref` is shaped like one of our signed read URLs, else None."""
    parts = split_url(ref)
    if parts.scheme not in ("http", "https") or not parts.path.startswith(ARTIFACTS_PATH):
        return None
    ours = split_url(base_url)
    if parts.scheme == "https" and parts.netloc.lower() != ours.netloc.lower():
        return None  # another host's https URL: fetched safely, not trusted
    q = parse_qs(parts.query)
    key = parts.path[len(ARTIFACTS_PATH):]
    return key, (q.get("exp") or [None])[0], (q.get("sig") or [None])[0]


def fetch_input(ref: str, dest: Path, *, store: "ArtifactStore", settings: "Settings | None" = None,
                signer: "UrlSigner | None" = None) -> Path:
    from ..settings import get_settings
    from . import get_signer

    settings = settings or get_settings()
    ref = ref.strip()
    if _is_key(ref):
        return store.get_to_file(ref, dest)
    own = own_signed_url(ref, settings.base_url)
    if own is not None:
        key, exp, sig = own
        (signer or getattr(store, "signer", None) or get_signer(settings)).verify(key, exp, sig)
        return store.get_to_file(key, dest)
    if split_url(ref).scheme.lower() != "https":
        raise refused("an input must be an artifact key, a signed artifact URL or an https URL")
    return safe_fetch(ref, dest, max_bytes=settings.fetch_max_bytes, timeout=settings.fetch_timeout_s)
