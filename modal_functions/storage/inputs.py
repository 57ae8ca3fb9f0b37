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
from urllib.parse import parse_qs, unquote

from ..errors import ARTIFACT_NOT_FOUND, CapabilityError
from ..fetch import address_problem, check_url, refused, safe_fetch, split_url
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
    if parts.scheme not in ("http", "https"):
        return None
    ours = split_url(base_url)
    # The path as the server reads it (percent-decoded), under our base URL's own path
    # (COMPUTE_PUBLIC_URL may be https://host/compute) or at the root.
    path = unquote(parts.path)
    prefix = next((p for p in (ours.path.rstrip("/") + ARTIFACTS_PATH, ARTIFACTS_PATH) if path.startswith(p)), None)
    if prefix is None:
        return None
    if parts.scheme == "https" and not _same_authority(parts, ours):
        return None  # another host's https URL: fetched safely, not trusted
    q = parse_qs(parts.query)
    key = path[len(prefix):]
    return key, (q.get("exp") or [None])[0], (q.get("sig") or [None])[0]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _authority(parts) -> tuple[str | None, str | None, str, int | None] | None:
    """(user, password, host, port) as a server tells them apart: the host in lower case and without
    a fully qualified name's trailing dot, the scheme's default port as no port (`https://h:443/` is
    `https://h/`); None for a malformed port. Compared as text, another spelling of our own URL was
    fetched over the network, and refused when our host is private."""
    try:
        port = parts.port
    except ValueError:
        return None
    if port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        port = None
    return parts.username, parts.password, (parts.hostname or "").rstrip("."), port


def _same_authority(parts, ours) -> bool:
    theirs = _authority(parts)
    return theirs is not None and theirs == _authority(ours)


def precheck_refs(refs: dict[str, str], *, base_url: str, store: "ArtifactStore | None" = None,
                  signer: "UrlSigner | None" = None) -> None:
    """At submission: refuse what `fetch_input` would refuse, before the job takes a queue slot.

    `refs` maps each input reference to what it is for. Everything that can be decided
    without the network is checked: the form (key, our signed URL, https URL as `check_url`
    sees it), literal private addresses, our signed URLs' keys and, with a signer, their
    signatures, and, with a store, that keys exist. Names are resolved and vetted at fetch time.
    """
    for ref, use in refs.items():
        ref = ref.strip()
        try:
            own = None if _is_key(ref) else own_signed_url(ref, base_url)
            if own is not None:
                key, exp, sig = own
                parse_key(key)
                if signer is not None:
                    signer.verify(key, exp, sig)
                ref = key
            if _is_key(ref):
                if store is not None and not store.exists(ref):
                    raise CapabilityError(ARTIFACT_NOT_FOUND, f"no artifact {ref!r} in the store", http_status=422)
                continue
            if split_url(ref).scheme.lower() != "https":
                raise refused("an input must be an artifact key, a signed artifact URL or an https URL")
            host, _, _ = check_url(ref)
        except CapabilityError as e:
            raise CapabilityError(e.code, f"{use}: {e.message}", retryable=e.retryable, http_status=e.http_status) from e
        if (problem := _literal_ip_problem(host)) is not None:
            raise refused(f"{use}: {host} is {problem}")


def precheck_request(refs: dict[str, str], settings: "Settings | None" = None) -> None:
    """`precheck_refs` with this deployment's URL and store (both backends call it at submission)."""
    from ..settings import get_settings
    from . import get_store

    settings = settings or get_settings()
    try:
        store = get_store(settings)
    except Exception:  # noqa: BLE001 - no store configured here: the fetch checks again
        store = None
    precheck_refs(refs, base_url=settings.base_url, store=store,
                  signer=getattr(store, "signer", None) or _signer(settings))


def _signer(settings: "Settings") -> "UrlSigner | None":
    from . import get_signer

    try:
        return get_signer(settings)
    except Exception:  # noqa: BLE001 - no signing secret here: the fetch verifies
        return None


def _literal_ip_problem(host: str) -> str | None:
    import ipaddress

    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a name: vetted after DNS, at fetch time
    return address_problem(host)


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
