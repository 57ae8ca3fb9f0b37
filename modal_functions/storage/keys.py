"""Artifact keys: a grammar small enough that a key can never name anything outside the store.

Two shapes only, matched by whole-string regexes:

    artifacts/sha256/<aa>/<sha256>.<ext>   content-addressed; <aa> = first two hex chars of the digest
    renders/<owner>/<id>.<ext>             published results (a server-side copy of an artifact)

with <sha256> 64 lowercase hex chars, <ext> `[a-z0-9]{1,8}` and <owner>/<id>
`[A-Za-z0-9_-]{1,128}`. No dots except the one before the extension, no slashes
beyond the fixed ones, no percent-escapes, backslashes, NULs or leading `/`: a
traversal attempt simply does not parse and is answered `invalid_key` (400).

The content type of an artifact follows from its extension (never text/plain for
media: Supabase Storage defaults to text/plain when none is sent).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import INVALID_KEY, CapabilityError

EXT_RE = re.compile(r"[a-z0-9]{1,8}")
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
ARTIFACT_KEY_RE = re.compile(r"artifacts/sha256/([0-9a-f]{2})/([0-9a-f]{64})\.([a-z0-9]{1,8})")
RENDER_KEY_RE = re.compile(r"renders/([A-Za-z0-9_-]{1,128})/([A-Za-z0-9_-]{1,128})\.([a-z0-9]{1,8})")

ARTIFACTS_PREFIX = "artifacts"
RENDERS_PREFIX = "renders"

CONTENT_TYPES: dict[str, str] = {
    # video
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "ts": "video/mp2t",
    # images
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
    "svg": "image/svg+xml",
    # audio
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
    # captions and data
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "zip": "application/zip",
    "bin": "application/octet-stream",
}
OCTET_STREAM = "application/octet-stream"

_EXT_BY_TYPE: dict[str, str] = {
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "video/mp2t": "ts",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "application/x-subrip": "srt",
    "text/vtt": "vtt",
    "application/json": "json",
    "text/plain": "txt",
}


def invalid_key(message: str) -> CapabilityError:
    return CapabilityError(INVALID_KEY, message, http_status=400)


@dataclass(frozen=True)
class ParsedKey:
    key: str
    kind: str  # "artifacts" | "renders"
    ext: str
    sha256: str | None = None  # artifacts only
    owner: str | None = None  # renders only
    id: str | None = None  # renders only

    @property
    def content_type(self) -> str:
        return content_type_for(self.ext)


def normalize_ext(ext: str) -> str:
    """`".PNG"` -> `"png"`; anything outside `[a-z0-9]{1,8}` is `invalid_key`."""
    if not isinstance(ext, str):
        raise invalid_key("extension must be a string")
    e = ext[1:] if ext.startswith(".") else ext
    e = e.lower()
    if not EXT_RE.fullmatch(e):
        raise invalid_key(f"invalid extension {ext!r}: expected [a-z0-9]{{1,8}}")
    return e


def content_type_for(ext: str) -> str:
    return CONTENT_TYPES.get(ext.lower().lstrip("."), OCTET_STREAM)


def ext_for_content_type(content_type: str | None) -> str | None:
    """`"image/png; charset=x"` -> `"png"`; unknown or missing -> None."""
    if not content_type:
        return None
    return _EXT_BY_TYPE.get(content_type.split(";", 1)[0].strip().lower())


def artifact_key(sha256: str, ext: str) -> str:
    digest = sha256.lower()
    if not SHA256_RE.fullmatch(digest):
        raise invalid_key("sha256 must be 64 hex characters")
    return f"{ARTIFACTS_PREFIX}/sha256/{digest[:2]}/{digest}.{normalize_ext(ext)}"


def published_key(owner: str, id: str, ext: str) -> str:
    for what, value in (("owner", owner), ("id", id)):
        if not isinstance(value, str) or not NAME_RE.fullmatch(value):
            raise invalid_key(f"invalid {what} {value!r}: expected [A-Za-z0-9_-]{{1,128}}")
    return f"{RENDERS_PREFIX}/{owner}/{id}.{normalize_ext(ext)}"


def parse_key(key: str) -> ParsedKey:
    """Validate `key` against the grammar; raise `invalid_key` (400) for anything else."""
    if not isinstance(key, str) or len(key) > 400:
        raise invalid_key("invalid artifact key")
    m = ARTIFACT_KEY_RE.fullmatch(key)
    if m:
        aa, digest, ext = m.groups()
        if aa != digest[:2]:
            raise invalid_key("key prefix does not match its digest")
        return ParsedKey(key=key, kind=ARTIFACTS_PREFIX, ext=ext, sha256=digest)
    m = RENDER_KEY_RE.fullmatch(key)
    if m:
        owner, id_, ext = m.groups()
        return ParsedKey(key=key, kind=RENDERS_PREFIX, ext=ext, owner=owner, id=id_)
    raise invalid_key(
        "invalid artifact key: expected artifacts/sha256/<aa>/<sha256>.<ext> or renders/<owner>/<id>.<ext>"
    )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_stream(f: BinaryIO, chunk: int = 1 << 20) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    while block := f.read(chunk):
        h.update(block)
        size += len(block)
    return h.hexdigest(), size


def sha256_file(path: Path) -> tuple[str, int]:
    with open(path, "rb") as f:
        return sha256_stream(f)
