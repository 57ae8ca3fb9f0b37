"""# The in-house job registry: SQLite, so nothing accepted is ever lost.

One file (`<CANVASCAST_DATA_DIR>/jobs.sqlite3`, WAL mode) holds

- `jobs`: every job as its contract JSON (`Job.model_dump_json()`), plus the columns
  we query by (status, kind, timestamps);
- `idempotency`: key -> job id and the sha256 of the canonical `{kind, input}` JSON.
  The same key with the same input returns the same job; with other input it is a
  409 `idempotency_conflict`. A caller who wants a fresh attempt uses a new key.

At start, `recover()` marks every job a dead server left queued or running as failed,
code `interrupted`, retryable: the caller learns about it and may resubmit with a new
key. Finished jobs keep answering after a restart.

A stored job this version cannot read (written by an older or newer version, or a
damaged body) never stops the server: its row is copied as it was into
`quarantined_jobs` (and logged), and the job answers as failed, code
`record_unreadable`, retryable (its id, kind, input if readable and key are kept; its
result is not). Only a record whose kind this version does not know at all cannot be
answered as a `Job`: it is kept as it was, and reading it raises 410 `record_unreadable`.

A write the disk refuses (full, I/O error, locked past the timeout) while creating a
job is 503 `registry_unavailable`, retryable; the transaction is rolled back, so
neither the job nor its key is recorded.

One process owns the file (the in-house server); a lock serialises its threads.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import sqlite3
import threading
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..contract.jobs import KINDS, Job, JobError, JobStatus
from ..errors import IDEMPOTENCY_CONFLICT, INTERRUPTED, CapabilityError
from ..logs import get_logger

log = get_logger("canvascast.registry")

RECORD_UNREADABLE = "record_unreadable"
"""A stored job this server version cannot read (another version's schema, a damaged body)."""
REGISTRY_UNAVAILABLE = "registry_unavailable"
"""503, retryable: the registry could not record a new job (disk full, I/O error, locked)."""

SCHEMA = """
create table if not exists jobs (
    id text primary key,
    kind text not null,
    status text not null,
    created_at text not null,
    updated_at text not null,
    body text not null
);
create index if not exists jobs_status on jobs(status);
create table if not exists idempotency (
    key text primary key,
    job_id text not null references jobs(id),
    input_sha256 text not null,
    created_at text not null
);
create table if not exists quarantined_jobs (
    id text not null,
    status text not null,
    body text not null,
    reason text not null,
    quarantined_at text not null
);
"""


def _numbers_as_values(value: Any) -> Any:
    """1.0 as 1: JSON does not tell them apart, and neither does a float field of the contract."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _numbers_as_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_values(v) for v in value]
    return value


def input_digest(kind: str, input: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of `{kind, input}` (sorted keys, no spaces, 1.0 written 1)."""
    canonical = json.dumps({"kind": kind, "input": _numbers_as_values(input)}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_ROW = "id, kind, status, created_at, body"


def read_stored_job(raw: str | dict[str, Any]) -> Job:
    """A stored job, whichever version of this code wrote it. Fields this version does not know
    (a newer version's additions, read during a rollout or after a rollback) are ignored, never
    a reason to call the record unreadable; anything else invalid raises ValidationError."""
    try:
        return Job.model_validate_json(raw) if isinstance(raw, str) else Job.model_validate(raw)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        if not errors or any(err["type"] != "extra_forbidden" for err in errors):
            raise
        data = json.loads(raw) if isinstance(raw, str) else copy.deepcopy(raw)
        for err in errors:
            *path, last = err["loc"]
            node = data
            for part in path:
                node = node[part]
            node.pop(last, None)
        return Job.model_validate(data)


def describe_invalid(e: ValidationError) -> str:
    """One line for a log or an error message: where a stored record stopped validating, and why."""
    first = e.errors(include_url=False)[0] if e.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"[:300]


def unreadable_job(job_id: str, kind: str, status: str, stored: Any, idempotency_key: str | None, created_at: str | None,
                   reason: str, now: datetime, *, backend: str) -> Job:
    """What a stored job this version cannot read answers (in-house registry and Modal Dict alike):
    failed `record_unreadable`, retryable, keeping its id, kind, key and, if readable, input."""
    stored = stored if isinstance(stored, dict) else {}
    try:
        created = datetime.fromisoformat(created_at) if created_at else now
    except (TypeError, ValueError):
        created = now
    was = "had not finished" if status in (JobStatus.queued.value, JobStatus.running.value) else f"had ended {status}"
    return Job(
        id=job_id,
        kind=kind,
        status=JobStatus.failed,
        input=stored["input"] if isinstance(stored.get("input"), dict) else {},
        error=JobError(code=RECORD_UNREADABLE, retryable=True,
                       message=f"this job's stored record could not be read by this server version ({reason}); it {was}. "
                               "Its result is lost: submit it again with a new idempotency key"),
        idempotency_key=idempotency_key,
        created_at=created,
        finished_at=now,
        updated_at=now,
        backend=backend,
    )


class RegistryInUse(RuntimeError):
    """Another live process has this registry open (one server per data dir)."""


class JobRegistry:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One owner at a time: a second server on the same data dir would mark the first
        # one's running jobs interrupted and sweep their temp dirs. The OS drops the lock
        # when the owner dies, so a restart after a crash is never blocked.
        self._owner = open(self.path.with_name(self.path.name + ".lock"), "a")
        try:
            fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._owner.close()
            raise RegistryInUse(f"{self.path} is in use by another canvascast server (one server per data dir)") from None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=normal")
        self._db.executescript(SCHEMA)

    # ## Writes

    def create(self, job: Job, input_sha256: str | None = None) -> tuple[Job, bool]:
        """Insert `job` (and its idempotency key). Returns (job, created); an existing key returns its job."""
        with self._lock:
            try:
                self._db.execute("begin immediate")
                if job.idempotency_key is not None:
                    row = self._db.execute(
                        "select job_id, input_sha256 from idempotency where key = ?", (job.idempotency_key,)
                    ).fetchone()
                    if row is not None:
                        self._db.execute("commit")
                        job_id, digest = row
                        if digest != input_sha256:
                            raise CapabilityError(
                                IDEMPOTENCY_CONFLICT,
                                f"idempotency key {job.idempotency_key!r} was used for job {job_id} with different input; "
                                "use a new key for a new job",
                                http_status=409,
                            )
                        existing = self._get_locked(job_id)
                        assert existing is not None, f"idempotency row points at missing job {job_id}"
                        return existing, False
                self._upsert_locked(job)
                if job.idempotency_key is not None:
                    self._db.execute(
                        "insert into idempotency(key, job_id, input_sha256, created_at) values (?, ?, ?, ?)",
                        (job.idempotency_key, job.id, input_sha256, job.created_at.isoformat()),
                    )
                self._db.execute("commit")
                return job, True
            except CapabilityError:
                raise
            except BaseException as e:
                if self._db.in_transaction:  # SQLITE_FULL may have rolled it back already
                    with suppress(sqlite3.Error):
                        self._db.execute("rollback")
                if isinstance(e, (sqlite3.OperationalError, OSError)):
                    log.error("recording a new job failed", extra={"job_id": job.id, "error": str(e)})
                    raise CapabilityError(
                        REGISTRY_UNAVAILABLE,
                        f"the job registry cannot record a new job right now ({e}); nothing was recorded, retry later",
                        retryable=True,
                        http_status=503,
                    ) from e
                raise

    def save(self, job: Job) -> None:
        with self._lock:
            self._upsert_locked(job)

    def _upsert_locked(self, job: Job) -> None:
        self._db.execute(
            "insert into jobs(id, kind, status, created_at, updated_at, body) values (?, ?, ?, ?, ?, ?) "
            "on conflict(id) do update set status = excluded.status, updated_at = excluded.updated_at, body = excluded.body",
            (job.id, job.kind, job.status.value, job.created_at.isoformat(), job.updated_at.isoformat(), job.model_dump_json()),
        )

    def recover(self, now: datetime | None = None, message: str = "the server stopped while this job was queued or running") -> list[Job]:
        """Mark jobs left queued/running by a previous process as failed `interrupted` (retryable)."""
        now = now or datetime.now(timezone.utc)
        recovered: list[Job] = []
        with self._lock:
            rows = self._db.execute(f"select {_ROW} from jobs where status in (?, ?)", (JobStatus.queued.value, JobStatus.running.value)).fetchall()
            for row in rows:
                try:
                    job = self._load_locked(row, now)
                except CapabilityError:  # a kind this version does not know: kept as it was, logged
                    continue
                if job.status.terminal:  # unreadable: already answered as failed `record_unreadable`
                    recovered.append(job)
                    continue
                job = job.model_copy(
                    update={
                        "status": JobStatus.failed,
                        "error": JobError(code=INTERRUPTED, message=message, retryable=True),
                        "finished_at": now,
                        "updated_at": now,
                    }
                )
                self._upsert_locked(job)
                recovered.append(job)
        return recovered

    # ## Reads

    def find_key(self, key: str) -> tuple[str, str] | None:
        """(job id, input sha256) recorded for an idempotency key, if any."""
        with self._lock:
            row = self._db.execute("select job_id, input_sha256 from idempotency where key = ?", (key,)).fetchone()
        return (row[0], row[1]) if row else None

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._get_locked(job_id)

    def _get_locked(self, job_id: str) -> Job | None:
        row = self._db.execute(f"select {_ROW} from jobs where id = ?", (job_id,)).fetchone()
        return self._load_locked(row) if row else None

    def _load_locked(self, row: tuple[str, str, str, str, str], now: datetime | None = None) -> Job:
        """The row's Job; a body this version cannot read is quarantined and answered as failed `record_unreadable`."""
        job_id, kind, status, created_at, body = row
        try:
            return read_stored_job(body)
        except ValidationError as e:  # invalid JSON is a ValidationError too
            reason = describe_invalid(e)
        now = now or datetime.now(timezone.utc)
        log.error("stored job unreadable; quarantined", extra={"job_id": job_id, "kind": kind, "status": status, "reason": reason})
        with suppress(sqlite3.Error):  # a read must answer even if the disk refuses the copy
            if self._db.execute("select 1 from quarantined_jobs where id = ? and body = ?", (job_id, body)).fetchone() is None:
                self._db.execute("insert into quarantined_jobs(id, status, body, reason, quarantined_at) values (?, ?, ?, ?, ?)",
                                 (job_id, status, body, reason, now.isoformat()))
        if kind not in KINDS:
            raise CapabilityError(RECORD_UNREADABLE, f"job {job_id!r} was recorded for kind {kind!r}, which this server version "
                                                     "does not know; it is kept as it was", http_status=410)
        salvaged = self._salvage(job_id, kind, status, created_at, body, reason, now)
        with suppress(sqlite3.Error):  # replaced, so the status column is true and the next read is plain
            self._upsert_locked(salvaged)
        return salvaged

    def _salvage(self, job_id: str, kind: str, status: str, created_at: str, body: str, reason: str, now: datetime) -> Job:
        try:
            stored = json.loads(body)
        except ValueError:
            stored = None
        key_row = self._db.execute("select key from idempotency where job_id = ?", (job_id,)).fetchone()
        return unreadable_job(job_id, kind, status, stored, key_row[0] if key_row else None, created_at, reason, now, backend="inhouse")

    def count(self, status: JobStatus | None = None) -> int:
        with self._lock:
            if status is None:
                return self._db.execute("select count(*) from jobs").fetchone()[0]
            return self._db.execute("select count(*) from jobs where status = ?", (status.value,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._owner.close()  # releases the flock
