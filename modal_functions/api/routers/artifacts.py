"""Artifacts over HTTP: upload with the bearer token, read with a signed, expiring URL.

- `POST /v1/artifacts?ext=png` (bearer auth): the raw body is streamed to a temp file
  (capped at COMPUTE_MAX_UPLOAD_BYTES), stored content-addressed, and answered with
  an `ArtifactRef` whose `url` is a signed read URL. The extension comes from `?ext=`
  or, failing that, from the Content-Type.
- `GET /v1/artifacts/{key}?exp=&sig=` (no bearer: the signature is the credential):
  verified in constant time (`storage/signing.py`), then streamed with its content
  type; Range requests work (Starlette's FileResponse, over one open file:
  `open_file_response.py`). With the Supabase store the
  same URL answers a 307 to a Supabase signed URL for the remaining lifetime.

Errors are `ErrorBody` JSON through `CapabilityError`: invalid_key 400, bad_signature
and signature_expired 403, artifact_not_found 404, payload_too_large 413,
storage_unavailable 503.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Iterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ...contract.jobs import ArtifactRef, ErrorBody
from ...errors import BAD_REQUEST, PAYLOAD_TOO_LARGE, STORAGE_UNAVAILABLE, CapabilityError
from ...settings import Settings, get_settings
from ...storage import get_signer, get_store
from ...storage.base import UPLOADS_DIR, ArtifactStore, spool
from ...storage.keys import ARTIFACT_KEY_RE, EXT_RE, RENDER_KEY_RE, content_type_for, ext_for_content_type, normalize_ext, parse_key
from ...storage.local import LocalStore
from ...storage.signing import EXP_RE, MAX_EXPIRES_IN, SIG_RE, UrlSigner
from ..dependencies import require_token
from ..errors import error_response
from ..open_file_response import OpenFileResponse

# The grammars `normalize_ext`, `parse_key` and the signer enforce, documented from their own
# regexes (the handlers still answer 400 `invalid_key` / 403 for anything else, not FastAPI's 422).
# An extension may come with its dot and in any case: `normalize_ext` takes it so.
EXT_PATTERN = "^\\.?" + EXT_RE.pattern.replace("a-z", "A-Za-z") + "$"
KEY_PATTERN = f"^(?:{ARTIFACT_KEY_RE.pattern}|{RENDER_KEY_RE.pattern})$"

DEFAULT_EXPIRES_IN = 3600


def get_artifact_store(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> ArtifactStore:
    """The deployment's store, built once per app (tests may preset `app.state.artifact_store`)."""
    store = getattr(request.app.state, "artifact_store", None)
    if store is None:
        store = get_store(settings)
        request.app.state.artifact_store = store
    return store


def get_url_signer(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> UrlSigner:
    store = get_artifact_store(request, settings)
    if isinstance(store, LocalStore):
        return store.signer
    signer = getattr(request.app.state, "artifact_signer", None)
    if signer is None:
        signer = get_signer(settings)
        request.app.state.artifact_signer = signer
    return signer


StoreDep = Annotated[ArtifactStore, Depends(get_artifact_store)]
SignerDep = Annotated[UrlSigner, Depends(get_url_signer)]


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


router = APIRouter(prefix="/v1/artifacts", tags=["artifacts"])


def _spool_failed(e: OSError) -> CapabilityError:
    """The upload could not be spooled to disk (full, read-only): retryable, and without our spool path."""
    return CapabilityError(STORAGE_UNAVAILABLE, f"cannot spool the upload: {e.strerror or type(e).__name__}", retryable=True, http_status=503)


@contextmanager
def _spool_errors() -> Iterator[None]:
    try:
        yield
    except OSError as e:
        raise _spool_failed(e) from e


def _upload_dir(store: ArtifactStore, settings: Settings) -> Path:
    # Spool beside a local store (same filesystem: `put_spool` renames it in, no copy); otherwise in the data dir.
    directory = store.root / ".tmp" if isinstance(store, LocalStore) else Path(settings.data_dir) / UPLOADS_DIR  # where cleanup sweeps stale spools
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@router.post(
    "",
    status_code=201,
    response_model=ArtifactRef,
    dependencies=[Depends(require_token)],
    summary="Upload an artifact (raw body); answers its content-addressed key and a signed read URL.",
    responses={
        400: _doc("`invalid_key` (bad ext) or `bad_request` (no ext and unknown Content-Type)."),
        401: _doc("`unauthorized`."),
        413: _doc("`payload_too_large`: above COMPUTE_MAX_UPLOAD_BYTES."),
        503: _doc("`storage_unavailable` (retryable)."),
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def upload_artifact(
    request: Request,
    store: StoreDep,
    settings: Annotated[Settings, Depends(get_settings)],
    ext: Annotated[str | None, Query(description="File extension, e.g. png; default from Content-Type.",
                                     json_schema_extra={"pattern": EXT_PATTERN})] = None,
    expires_in: Annotated[int, Query(ge=1, le=MAX_EXPIRES_IN)] = DEFAULT_EXPIRES_IN,
) -> ArtifactRef:
    if ext is None:
        ext = ext_for_content_type(request.headers.get("content-type"))
        if ext is None:
            raise CapabilityError(BAD_REQUEST, "give ?ext=<extension> or a known media Content-Type", http_status=400)
    ext = normalize_ext(ext)
    limit = settings.max_upload_bytes
    with _spool_errors():
        directory = _upload_dir(store, settings)
    # The spool is held while in use (base.spool: a server starting meanwhile leaves it alone) and
    # removed on every path, unless the store renamed it away.
    with _spool_errors(), spool(directory, ".upload-") as (f, tmp):
        size = 0
        with f:
            try:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise CapabilityError(PAYLOAD_TOO_LARGE, f"upload exceeds {limit} bytes", http_status=413)
                    f.write(chunk)
            except ClientDisconnect as e:
                # the client went away mid-upload: its problem, not a server error (nobody reads the answer)
                raise CapabilityError(BAD_REQUEST, "the client disconnected during the upload", http_status=400) from e
        if size == 0:
            raise CapabilityError(BAD_REQUEST, "empty upload", http_status=400)
        put = store.put_spool if isinstance(store, LocalStore) else store.put_file
        ref = await run_in_threadpool(put, tmp, ext)
        url = await run_in_threadpool(store.signed_url, ref.key, expires_in)
        return ref.model_copy(update={"url": url})


@router.get(
    "/{key:path}",
    summary="Read an artifact through a signed, expiring URL (no bearer token).",
    response_class=FileResponse,
    responses={
        200: {"description": "The artifact, with its content type; Range supported.", "content": {"application/octet-stream": {}}},
        307: {"description": "Supabase store: redirect to a Supabase signed URL."},
        400: _doc("`invalid_key`."),
        403: _doc("`bad_signature` or `signature_expired`."),
        404: _doc("`artifact_not_found`."),
    },
)
def read_artifact(
    request: Request,
    key: Annotated[str, PathParam(json_schema_extra={"pattern": KEY_PATTERN})],
    store: StoreDep,
    signer: SignerDep,
    exp: Annotated[str | None, Query(description="Expiry, Unix seconds.", json_schema_extra={"pattern": f"^{EXP_RE.pattern}$"})] = None,
    sig: Annotated[str | None, Query(description="HMAC-SHA256 of key and exp, hex.", json_schema_extra={"pattern": f"^{SIG_RE.pattern}$"})] = None,
):
    parse_key(key)
    expires = signer.verify(key, exp, sig)
    remaining = max(1, int(expires - signer.clock()))
    if isinstance(store, LocalStore):
        # One open file for the size, the headers and the bytes (open_file_response.py)
        response = OpenFileResponse(
            store.open(key),
            store.path_for(key),
            media_type=content_type_for(parse_key(key).ext),
            headers={"Cache-Control": f"private, max-age={remaining}", "X-Content-Type-Options": "nosniff",
                     # an artifact is data, never a page of this origin (an uploaded SVG's script)
                     "Content-Security-Policy": "default-src 'none'; sandbox"},
        )
        if (header := request.headers.get("range")) is not None:
            size = response.size
            ranges = satisfiable_ranges(header, size)
            if ranges == []:
                response.close()
                return error_response(416, RANGE_NOT_SATISFIABLE, f"no part of {header[:200]!r} is inside the {size} bytes",
                                      headers={"Content-Range": f"bytes */{size}"})
            # RFC 9110: a Range that does not parse is ignored (the whole file served); one that does
            # is passed on as its satisfiable parts only, in plain numbers Starlette cannot choke on
            kept = [] if ranges is None else [(b"range", ("bytes=" + ",".join(f"{a}-{b}" for a, b in ranges)).encode())]
            request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"range"] + kept
        return response
    return RedirectResponse(store.signed_url(key, remaining), status_code=307)


router.add_api_route("/{key:path}", read_artifact, methods=["HEAD"], include_in_schema=False)

RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
_RANGE_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


_BEYOND = 10**18  # a number with more digits than this is past the end of any file (int() refuses >4300 digits)


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _BEYOND


def satisfiable_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges (first, last, inclusive) of a Range header that lie inside a file of `size` bytes:
    None when the header does not parse (serve the whole file), [] when no range is inside it (416).
    Ranges that start past the end are dropped, ends past it clamped (RFC 9110 14.1.1)."""
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    out: list[tuple[int, int]] = []
    for spec in specs.split(","):
        m = _RANGE_SPEC.fullmatch(spec)
        if m is None or m.group(1) == m.group(2) == "":
            return None
        start, end = m.group(1), m.group(2)
        if start and end and _number(end) < _number(start):
            return None
        if start:
            if _number(start) < size:
                out.append((_number(start), min(_number(end), size - 1) if end else size - 1))
        elif _number(end) > 0 and size > 0:
            out.append((max(0, size - _number(end)), size - 1))
    return out


__all__ = ["router", "get_artifact_store", "get_url_signer"]
