"""The local artifact store: a directory with the same key layout as Supabase Storage.

This is the default. Files live at `<root>/<key>` (root = CANVASCAST_DATA_DIR/store),
so `artifacts/sha256/ab/ab12….png` is a real path under the root and nothing else is:
every key is parsed by `keys.parse_key` before it touches the filesystem, and the
resolved path is checked to stay under the root.

Writes are atomic (a temp file in `<root>/.tmp`, then `os.replace`), so a reader
never sees half a file and a crash leaves at most a stale temp file that `cleanup`
removes. Reads go through HMAC-signed, expiring URLs served by the compute plane
(`signing.py`, `api/routers/artifacts.py`); like Supabase, signing a URL for a key that
is not stored is `artifact_not_found`.

Error messages name the key (or nothing), never a temp file or the caller's scratch
path: they reach HTTP bodies and CLI lines, and the caller knows which file it gave.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from ..contract.jobs import ArtifactRef
from ..errors import ARTIFACT_NOT_FOUND, INVALID_KEY, STORAGE_UNAVAILABLE, CapabilityError
from ..logs import get_logger
from .base import copy_failed, remove_stale_spools, spool, unreadable_source
from .keys import (
    ARTIFACTS_PREFIX,
    RENDERS_PREFIX,
    artifact_key,
    content_type_for,
    normalize_ext,
    parse_key,
    published_key,
    sha256_bytes,
)
from .signing import UrlSigner, check_expires_in

log = get_logger(__name__)

TMP_DIR = ".tmp"
_CHUNK = 1 << 20


def not_found(key: str) -> CapabilityError:
    return CapabilityError(ARTIFACT_NOT_FOUND, f"no artifact at {key}", http_status=404)


def unavailable(message: str) -> CapabilityError:
    return CapabilityError(STORAGE_UNAVAILABLE, message, retryable=True, http_status=503)


class LocalStore:
    """`ArtifactStore` over a local directory. `clock()` (unix seconds) drives signing, mtimes and cleanup."""

    def __init__(self, root: Path, base_url: str, secret: str, *, clock: Callable[[], float] = time.time):
        self.root = Path(root).resolve()
        self.clock = clock
        self.signer = UrlSigner(secret, base_url, clock=clock)
        try:
            (self.root / TMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise unavailable(f"local store at {self.root} is not usable: {e.strerror or e}") from e

    # ## Paths

    def path_for(self, key: str) -> Path:
        """The file for a valid key (it may not exist). Raises `invalid_key` for anything else."""
        parse_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):  # belt and braces: the grammar already forbids it
            raise CapabilityError(INVALID_KEY, "key escapes the store", http_status=400)
        return path

    def local_path(self, key: str) -> Path:
        """The existing file for `key`, or `artifact_not_found`."""
        path = self.path_for(key)
        if not path.is_file():
            raise not_found(key)
        return path

    def open(self, key: str) -> BinaryIO:
        """`key`'s file, open for reading: ONE version of it, whatever publish (an atomic
        replace) or cleanup (a delete) do to the path afterwards; or `artifact_not_found`."""
        try:
            file = open(self.path_for(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise not_found(key) from None
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            file.close()
            raise not_found(key)
        return file

    @contextmanager
    def _temp(self, directory: Path | None = None, *, what: str = "local store write failed") -> Iterator[tuple[BinaryIO, Path]]:
        """An open temp file that is removed unless the caller renamed it away.
        An OSError inside becomes `storage_unavailable` saying `what` (never the temp path)."""
        directory = directory or self.root / TMP_DIR
        try:
            directory.mkdir(parents=True, exist_ok=True)  # survives someone emptying the store
            with spool(directory) as (f, tmp):  # held: a server start sweeping `.tmp` leaves it alone
                yield f, tmp
        except OSError as e:
            raise unavailable(f"{what}: {e.strerror or type(e).__name__}") from e

    def _commit(self, tmp: Path, key: str) -> None:
        dest = self.path_for(key)
        try:
            for attempt in range(3):
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.replace(tmp, dest)
                    break
                except FileNotFoundError:
                    # cleanup removes a shard directory once it is empty, which it is between
                    # our mkdir and replace: make it again (a missing tmp fails below as before)
                    if attempt == 2 or not tmp.exists():
                        raise
            now = self.clock()
            os.utime(dest, (now, now))
        except OSError as e:
            raise unavailable(f"local store write failed: {e.strerror or type(e).__name__}") from e

    def touch(self, key: str) -> bool:
        """Restart `key`'s retention clock (its mtime := now); False when it is not stored.

        Retention counts from the last write or touch: a put of the same bytes and an
        image-cache hit both touch, so an artifact still in use is not cleaned up."""
        path = self.path_for(key)
        try:
            now = self.clock()
            os.utime(path, (now, now))
            return path.is_file()
        except FileNotFoundError:
            return False
        except OSError as e:
            raise unavailable(f"touch {key}: {e.strerror or type(e).__name__}") from e

    def _ref(self, key: str, sha256: str, size: int, content_type: str | None = None) -> ArtifactRef:
        return ArtifactRef(key=key, sha256=sha256, size=size, content_type=content_type or content_type_for(parse_key(key).ext))

    # ## Writes

    def put_bytes(self, data: bytes, ext: str, content_type: str | None = None) -> ArtifactRef:
        digest = sha256_bytes(data)
        key = artifact_key(digest, ext)
        if not self.touch(key):
            with self._temp() as (f, tmp):
                f.write(data)
                f.close()
                self._commit(tmp, key)
        return self._ref(key, digest, len(data), content_type)

    def put_file(self, path: Path, ext: str, content_type: str | None = None) -> ArtifactRef:
        normalize_ext(ext)  # a bad ext is refused before any reading
        try:
            src = open(path, "rb")
        except OSError as e:
            raise unreadable_source(e) from e

        def chunks() -> Iterator[bytes]:
            try:
                while block := src.read(_CHUNK):
                    yield block
            except OSError as e:  # a directory, an I/O error: the source, not the store
                raise unreadable_source(e) from e

        with src:
            return self.put_stream(chunks(), ext, content_type)

    def put_spool(self, path: Path, ext: str, content_type: str | None = None) -> ArtifactRef:
        """Store a finished spool of the caller's in `<root>/.tmp` (the upload route's) by renaming
        it into place: read once to hash it, never copied. The spool is gone or still the caller's
        to remove afterwards (same bytes already stored, a failure); a file elsewhere is copied."""
        ext = normalize_ext(ext)
        path = Path(path)
        if path.parent.resolve() != self.root / TMP_DIR:  # maybe another filesystem: no rename
            return self.put_file(path, ext, content_type)
        h, size = hashlib.sha256(), 0
        try:
            with open(path, "rb") as f:
                while block := f.read(_CHUNK):
                    h.update(block)
                    size += len(block)
        except OSError as e:  # our own spool: the disk, not the caller
            raise unavailable(f"local store write failed: {e.strerror or type(e).__name__}") from e
        key = artifact_key(h.hexdigest(), ext)
        if not self.touch(key):
            self._commit(path, key)  # atomic, as every write: readers see no file or all of it
        return self._ref(key, h.hexdigest(), size, content_type)

    def put_stream(self, chunks: Iterable[bytes], ext: str, content_type: str | None = None) -> ArtifactRef:
        """Store an iterable of byte chunks, hashing as it writes (one pass, constant memory)."""
        ext = normalize_ext(ext)
        h = hashlib.sha256()
        size = 0
        with self._temp() as (out, tmp):
            for block in chunks:
                h.update(block)
                out.write(block)
                size += len(block)
            out.close()
            key = artifact_key(h.hexdigest(), ext)
            if not self.touch(key):
                self._commit(tmp, key)
        return self._ref(key, h.hexdigest(), size, content_type)

    def publish(self, key: str, owner: str, id: str) -> ArtifactRef:
        """Server-side copy of `key` to `renders/<owner>/<id>.<ext>` (replacing an earlier publish)."""
        parsed = parse_key(key)
        dest_key = published_key(owner, id, parsed.ext)
        src = self.local_path(key)
        h, size = hashlib.sha256(), 0
        try:
            f = open(src, "rb")
        except FileNotFoundError as e:  # removed by cleanup between the check and the open
            raise not_found(key) from e
        except OSError as e:
            raise unavailable(f"publish {key}: {e.strerror or type(e).__name__}") from e
        with f, self._temp(what=f"publish {key}") as (out, tmp):
            while block := f.read(_CHUNK):  # hashed and sized as copied: no second read, no stat race
                h.update(block)
                out.write(block)
                size += len(block)
            out.close()
            self._commit(tmp, dest_key)
        return self._ref(dest_key, parsed.sha256 or h.hexdigest(), size)

    # ## Reads

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as e:
            raise not_found(key) from e
        except OSError as e:
            raise unavailable(f"local store read failed for {key}: {e.strerror or type(e).__name__}") from e

    def get_to_file(self, key: str, dest: Path) -> Path:
        """Copy `key` to `dest` (atomically). Failures name the key, not `dest` or a temp file."""
        src = self.local_path(key)
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise copy_failed(key, e) from e
        with self._temp(dest.parent, what=f"could not write a local copy of {key}") as (out, tmp):
            try:
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, out, _CHUNK)
            except FileNotFoundError as e:  # removed by cleanup between the check and the open
                raise not_found(key) from e
            out.close()
            os.replace(tmp, dest)
        return dest

    def signed_url(self, key: str, expires_in: int = 3600) -> str:
        """A signed read URL for a stored key (`artifact_not_found` otherwise, as with Supabase)."""
        check_expires_in(expires_in)
        self.local_path(key)
        return self.signer.url(key, expires_in)

    # ## Retention

    def cleanup(self, older_than_seconds: float, *, include_renders: bool = False) -> int:
        """Remove artifacts (and stale temp files) last written more than `older_than_seconds` ago.

        Published renders are kept unless `include_renders`: they are the user's results.
        """
        cutoff = self.clock() - older_than_seconds
        removed = 0
        tops = [ARTIFACTS_PREFIX] + ([RENDERS_PREFIX] if include_renders else [])
        for top in tops:
            base = self.root / top
            if not base.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(base, topdown=False):
                for name in filenames:
                    path = Path(dirpath) / name
                    try:
                        if path.stat().st_mtime < cutoff:
                            path.unlink()
                            removed += 1
                    except FileNotFoundError:
                        continue
                if Path(dirpath) != base:
                    try:
                        os.rmdir(dirpath)  # only succeeds when empty
                    except OSError as e:
                        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                            raise
        remove_stale_spools(self.root / TMP_DIR, self.clock())  # temp files and upload spools a crash left
        log.info("artifact cleanup", extra={"removed": removed, "older_than_s": older_than_seconds, "store": "local"})
        return removed
