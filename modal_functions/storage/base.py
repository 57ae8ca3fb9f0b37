"""The artifact store interface: one store per deployment, shared by every backend and the worker.

Keys are content-addressed (`artifacts/sha256/<aa>/<hash>.<ext>`); published results
live at `renders/<owner>/<id>.<ext>`. Implementations: `local.LocalStore` (default)
and `supabase_store.SupabaseStore` (production).
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol

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
# the write ends. A process killed mid-write leaves its spool behind. Every writer holds its spool
# (`spool`: a flock the OS drops when the process dies), so a server start removes the spools
# nobody holds at once (`sweep_dead_spools`), and cleanup removes old ones whatever made them.

STALE_SPOOL_SECONDS = 3600.0  # no write spends an hour between touches of its spool: older is a crash's leftover
UPLOADS_DIR = "uploads"  # `POST /v1/artifacts` spools in $CANVASCAST_DATA_DIR/uploads unless the store is local


@contextmanager
def spool(directory: Path, prefix: str = ".") -> Iterator[tuple[BinaryIO, Path]]:
    """A new spool `<directory>/<prefix><random>.part`, open for writing and held until the block
    ends (closing the file early keeps it held on a local filesystem; on NFS, where flock is
    emulated by POSIX locks, closing any descriptor of it drops the lock), then removed unless
    renamed away meanwhile.
    OSErrors (the directory unusable, a full disk) propagate for the caller to word."""
    for _ in range(3):
        path = directory / f"{prefix}{secrets.token_hex(8)}.part"
        f = open(path, "xb")
        try:
            hold = _hold(f)
        except BaseException:
            f.close()
            path.unlink(missing_ok=True)
            raise
        if hold != _SWEPT:
            break
        f.close()  # a start sweep took it between its creation and our lock: make another
    else:
        raise OSError(errno.EAGAIN, "spool files keep disappearing")
    try:
        with f:
            yield f, path
    finally:
        with suppress(OSError):
            path.unlink(missing_ok=True)
        if hold is not None:
            os.close(hold)  # after the unlink: a sweep never sees our spool unheld


_SWEPT = -1


def _hold(f: BinaryIO) -> int | None:
    """Lock the spool on a descriptor of its own (the caller may close `f` before it is done with
    the path); None on a filesystem without locks (then only cleanup's age rule removes a leftover)."""
    fd = os.dup(f.fileno())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks only while a sweep holds it to remove it
    except OSError:
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:
        os.close(fd)
        return _SWEPT
    return fd


def sweep_dead_spools(directory: Path) -> int:
    """Remove the spools in `directory` no live process holds (a crash's leftovers), whatever their
    age; returns how many. Safe beside writers in other processes: a held spool is never touched."""
    removed = 0
    try:
        paths = list(directory.glob("*.part"))
    except OSError:
        return 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)  # RDWR: flock over NFS is a write lock
        except OSError:  # gone already, or not a file we can open
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_nlink and os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False)):
                path.unlink()  # while locked: its writer, if it just made it, sees it gone and makes another
                removed += 1
        except OSError:  # held by a live writer (BlockingIOError), no locks here, or gone meanwhile
            pass
        finally:
            os.close(fd)
    return removed


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
