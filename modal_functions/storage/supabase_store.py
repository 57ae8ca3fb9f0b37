"""The production artifact store: Supabase Storage, through the `supabase` package.

A deployment that mixes in-house and Modal backends must use this store: a Modal
container cannot read the in-house disk, and both sides must see the same keys.

Key -> (bucket, object path): the key's first segment picks the bucket and the rest
is the object path, so

    artifacts/sha256/ab/ab12….png  ->  bucket SUPABASE_ARTIFACT_BUCKET (artifacts), "sha256/ab/ab12….png"
    renders/<owner>/<id>.mp4      ->  bucket SUPABASE_RENDERS_BUCKET (renders),    "<owner>/<id>.mp4"

Real Storage behaviour this layer handles (the test fake reproduces it):
- errors arrive as HTTP 400 with the true status in the JSON body's `statusCode`;
  supabase-py turns them into `StorageApiError(status=...)`, mapped here to our codes;
- upsert must be the string "true"; the content type must be sent explicitly
  (Storage stores text/plain otherwise);
- signed URLs (`create_signed_url`) expire with 400 InvalidJWT;
- publishing is a server-side copy (`POST /object/copy` with `destinationBucket`), sent with
  `x-upsert: true` so a republish replaces the object in one step (never missing in between);
- `list` is one folder level at a time, so cleanup walks `sha256/<aa>/` folders (cleaning each
  as soon as it is read);
- an object's age (what cleanup compares) is its `updated_at`, which only a write moves:
  Storage has no "touch" and no metadata-only update, and a copy onto the same key is
  not an upsert. So `touch` re-uploads the same bytes (upsert), and only when the object
  is older than TOUCH_AFTER_S: an image-cache hit costs one `info` request, and at most
  one download + upload per object per hour.

Error messages name keys, never the caller's scratch paths or our temp files.

Connection refused, DNS failures and timeouts are `storage_unavailable` (503, retryable).
"""

from __future__ import annotations

import os
import secrets
import time
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import httpx
from storage3.exceptions import StorageApiError

from ..contract.jobs import ArtifactRef
from ..errors import ARTIFACT_NOT_FOUND, PAYLOAD_TOO_LARGE, STORAGE_UNAVAILABLE, CapabilityError
from ..logs import get_logger
from .base import UPLOADS_DIR, copy_failed, remove_stale_spools, unreadable_source
from .keys import ARTIFACTS_PREFIX, artifact_key, content_type_for, normalize_ext, parse_key, published_key, sha256_bytes, sha256_file
from .signing import check_expires_in

if TYPE_CHECKING:
    from supabase import Client

    from ..settings import Settings

log = get_logger(__name__)

IMMUTABLE_CACHE = "31536000"  # content-addressed objects never change
LIST_PAGE = 1000
REMOVE_BATCH = 100
TOUCH_AFTER_S = 3600.0  # `touch` leaves younger objects alone: each hit never costs a re-upload


def _status(exc: StorageApiError) -> int:
    try:
        return int(exc.status)
    except (TypeError, ValueError):
        return 500


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Translate supabase-py / httpx failures into coded CapabilityErrors."""
    try:
        yield
    except StorageApiError as e:
        status = _status(e)
        if status == 404 and e.code == "Bucket not found":
            raise CapabilityError(STORAGE_UNAVAILABLE, f"{what}: {e.message} (check SUPABASE_*_BUCKET)", http_status=503) from e
        if status == 404:
            raise CapabilityError(ARTIFACT_NOT_FOUND, f"{what}: not found ({e.message})", http_status=404) from e
        if status == 413:
            raise CapabilityError(PAYLOAD_TOO_LARGE, f"{what}: too large for the bucket ({e.message})", http_status=413) from e
        retryable = status >= 500 or status == 429
        raise CapabilityError(STORAGE_UNAVAILABLE, f"{what}: Supabase Storage answered {status} {e.code}: {e.message}",
                              retryable=retryable, http_status=503) from e
    except httpx.TransportError as e:  # connection refused, DNS, timeouts, resets
        raise CapabilityError(STORAGE_UNAVAILABLE, f"{what}: Supabase Storage unreachable ({type(e).__name__}: {e})",
                              retryable=True, http_status=503) from e


class SupabaseStore:
    """`ArtifactStore` over Supabase Storage. `clock()` (unix seconds) only drives cleanup.

    `spool_dir` is where uploads to this store are spooled on this machine (`get_store` gives
    `$CANVASCAST_DATA_DIR/uploads`): cleanup removes what a crash left there, as the local store
    does in its `.tmp`."""

    def __init__(self, client: "Client", *, artifacts_bucket: str = "artifacts", renders_bucket: str = "renders",
                 clock: Callable[[], float] = time.time, http: httpx.Client | None = None, spool_dir: Path | None = None):
        self.client = client
        self.buckets = {"artifacts": artifacts_bucket, "renders": renders_bucket}
        self.clock = clock
        self.spool_dir = spool_dir
        self._http = http or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))

    @classmethod
    def connect(cls, url: str, service_role_key: str, *, timeout: float = 60.0, **kw: Any) -> "SupabaseStore":
        from supabase import ClientOptions, create_client

        # One httpx client for supabase-py and our streamed downloads (timeouts are set on it:
        # supabase-py 2.34 deprecates its own timeout/verify parameters).
        http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)))
        return cls(create_client(url, service_role_key, options=ClientOptions(httpx_client=http)), http=http, **kw)

    @classmethod
    def from_settings(cls, settings: "Settings") -> "SupabaseStore":
        return cls.connect(settings.supabase_url or "", settings.supabase_key or "",
                           artifacts_bucket=settings.supabase_bucket, renders_bucket=settings.supabase_renders_bucket,
                           spool_dir=Path(settings.data_dir) / UPLOADS_DIR)

    def locate(self, key: str) -> tuple[str, str]:
        """key -> (bucket, object path)."""
        parsed = parse_key(key)
        top, _, rest = key.partition("/")
        return self.buckets[parsed.kind], rest

    def _bucket(self, key: str):
        bucket, path = self.locate(key)
        return self.client.storage.from_(bucket), path

    # ## Writes

    def _upload(self, key: str, body: bytes | Path, content_type: str) -> None:
        bucket, path = self._bucket(key)
        with storage_errors(f"upload {key}"):
            bucket.upload(path, body, file_options={"content-type": content_type, "upsert": "true", "cache-control": IMMUTABLE_CACHE})

    def put_bytes(self, data: bytes, ext: str, content_type: str | None = None) -> ArtifactRef:
        digest = sha256_bytes(data)
        key = artifact_key(digest, ext)
        ctype = content_type or content_type_for(parse_key(key).ext)
        self._upload(key, data, ctype)
        return ArtifactRef(key=key, sha256=digest, size=len(data), content_type=ctype)

    def put_file(self, path: Path, ext: str, content_type: str | None = None) -> ArtifactRef:
        normalize_ext(ext)  # a bad ext is refused before any reading
        try:
            digest, size = sha256_file(Path(path))
            key = artifact_key(digest, ext)
            ctype = content_type or content_type_for(parse_key(key).ext)
            self._upload(key, Path(path), ctype)
        except OSError as e:  # the source file (supabase-py opens it too): never name it, it may be a spool file
            raise unreadable_source(e) from e
        return ArtifactRef(key=key, sha256=digest, size=size, content_type=ctype)

    def touch(self, key: str) -> bool:
        """Restart `key`'s retention clock; False when it is not stored.

        Cleanup ages objects by `updated_at`, which only an upload moves, so this re-uploads
        the same bytes (upsert, same content type) when the object is older than
        TOUCH_AFTER_S; a younger one is left alone (one `info` request). After a touch the
        object has at least the retention minus an hour to live."""
        bucket, path = self._bucket(key)
        try:
            with storage_errors(f"touch {key}"):
                info = bucket.info(path)
        except CapabilityError as e:
            if e.code == ARTIFACT_NOT_FOUND:
                return False
            raise
        written = _timestamp(info.get("updated_at") or info.get("last_modified") or info.get("created_at"))
        if written is not None and self.clock() - written < TOUCH_AFTER_S:
            return True
        try:
            data = self.read_bytes(key)
        except CapabilityError as e:
            if e.code == ARTIFACT_NOT_FOUND:  # removed by cleanup meanwhile
                return False
            raise
        parsed = parse_key(key)
        if parsed.sha256 and sha256_bytes(data) != parsed.sha256:
            log.warning("artifact bytes do not match their key; not refreshing", extra={"key": key})
            return False
        self._upload(key, data, info.get("content_type") or content_type_for(parsed.ext))
        return True

    def publish(self, key: str, owner: str, id: str) -> ArtifactRef:
        """Server-side copy to the renders bucket (Storage's copy endpoint; replaces an earlier publish)."""
        parsed = parse_key(key)
        dest_key = published_key(owner, id, parsed.ext)
        (src_bucket, src_path), (dst_bucket, dst_path) = self.locate(key), self.locate(dest_key)
        bucket = self.client.storage.from_(src_bucket)

        def copy() -> None:
            # supabase-py 2.34's copy() has neither destinationBucket nor upsert; the endpoint has both.
            bucket._request("POST", ["object", "copy"], headers={"x-upsert": "true"}, json={
                "bucketId": src_bucket, "sourceKey": src_path,
                "destinationBucket": dst_bucket, "destinationKey": dst_path,
            })

        with storage_errors(f"publish {key}"):
            info = bucket.info(src_path)
            # One upsert replaces an earlier publish in place. A remove then a copy left the key
            # missing in between, and a concurrent publish landing there made the copy a 409.
            try:
                copy()
            except StorageApiError as e:
                if _status(e) != 409:
                    raise
                # a Storage older than copy-with-upsert answers 409 to a republish: replace by hand
                self.client.storage.from_(dst_bucket).remove([dst_path])
                copy()
        size = _info_size(info)
        digest = parsed.sha256 or sha256_bytes(self.read_bytes(dest_key))
        if size is None:
            size = len(self.read_bytes(dest_key))
        return ArtifactRef(key=dest_key, sha256=digest, size=size, content_type=content_type_for(parsed.ext))

    # ## Reads

    def exists(self, key: str) -> bool:
        bucket, path = self._bucket(key)
        with storage_errors(f"exists {key}"):
            return bucket.exists(path)

    def read_bytes(self, key: str) -> bytes:
        bucket, path = self._bucket(key)
        with storage_errors(f"download {key}"):
            return bucket.download(path)

    def get_to_file(self, key: str, dest: Path) -> Path:
        """Streamed through a short-lived signed URL, so large inputs never sit in memory."""
        url = self.signed_url(key, 300)
        dest = Path(dest)
        tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.part"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with storage_errors(f"download {key}"), self._http.stream("GET", url) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise _api_error(resp)
                with open(tmp, "xb") as out:
                    for chunk in resp.iter_bytes(1 << 20):
                        out.write(chunk)
            os.replace(tmp, dest)
        except OSError as e:  # our side of the copy (full disk, no permission): name the key, not the paths
            raise copy_failed(key, e) from e
        finally:
            with suppress(OSError):  # e.g. dest's parent is not a directory: nothing was written
                tmp.unlink(missing_ok=True)
        return dest

    def signed_url(self, key: str, expires_in: int = 3600) -> str:
        check_expires_in(expires_in)
        bucket, path = self._bucket(key)
        with storage_errors(f"sign {key}"):
            return bucket.create_signed_url(path, expires_in)["signedURL"]

    # ## Retention

    def cleanup(self, older_than_seconds: float, *, include_renders: bool = False) -> int:
        """Remove artifacts whose last write is older than the cutoff (walks sha256/<aa>/ folders)."""
        cutoff = self.clock() - older_than_seconds
        removed = 0
        kinds = ["artifacts"] + (["renders"] if include_renders else [])
        for kind in kinds:
            bucket = self.client.storage.from_(self.buckets[kind])
            root = "sha256" if kind == ARTIFACTS_PREFIX else ""
            with storage_errors(f"cleanup {kind}"):
                removed += self._sweep(bucket, root, 1, cutoff)
        if self.spool_dir is not None:
            remove_stale_spools(self.spool_dir, self.clock())  # upload spools a crash left (not artifacts: not counted)
        log.info("artifact cleanup", extra={"removed": removed, "older_than_s": older_than_seconds, "store": "supabase"})
        return removed

    def _sweep(self, bucket: Any, prefix: str, depth: int, cutoff: float) -> int:
        """Remove the files in `prefix` last written before `cutoff`, then those `depth` folders below, one
        folder at a time.

        A folder's old files go as soon as it is read: a `touch` (an image-cache hit) landing after an
        object was read as old is then lost only if it comes within that one folder's listing and removal,
        not within the whole walk (Storage has no conditional delete to close that window). A folder is
        read whole before anything in it is removed, and the sub-folders are all known before the first
        is cleaned, so no removal shifts the offset of a page still to be read."""
        files, folders = self._list_all(bucket, prefix)
        old = [path for path, ts in files if ts is not None and ts < cutoff]
        for i in range(0, len(old), REMOVE_BATCH):
            bucket.remove(old[i:i + REMOVE_BATCH])
        removed = len(old)
        if depth > 0:
            for folder in folders:
                removed += self._sweep(bucket, folder, depth - 1, cutoff)
        return removed

    def _list_all(self, bucket: Any, prefix: str) -> tuple[list[tuple[str, float | None]], list[str]]:
        """([(file path, last-write unix time)], [folder path]) directly in `prefix`, every page."""
        files: list[tuple[str, float | None]] = []
        folders: list[str] = []
        offset = 0
        while True:
            page = bucket.list(prefix, {"limit": LIST_PAGE, "offset": offset})
            for entry in page:
                path = f"{prefix}/{entry['name']}" if prefix else entry["name"]
                if entry.get("id") is None:  # a folder
                    folders.append(path)
                else:
                    files.append((path, _timestamp(entry.get("updated_at") or entry.get("created_at"))))
            if len(page) < LIST_PAGE:
                return files, folders
            offset += LIST_PAGE


def _api_error(resp: httpx.Response) -> StorageApiError:
    """Storage's error body ({statusCode, error, message}, usually on HTTP 400) as supabase-py's error."""
    try:
        body = resp.json()
        return StorageApiError(body["message"], body["error"], body["statusCode"])
    except (ValueError, KeyError, TypeError):
        return StorageApiError(resp.text[:200], "InternalError", resp.status_code)


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _info_size(info: dict[str, Any]) -> int | None:
    size = info.get("size")
    if size is None:
        size = (info.get("metadata") or {}).get("size")
    return int(size) if size is not None else None
