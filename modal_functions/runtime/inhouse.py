"""# The in-house `JobBackend`: warm process pools behind a SQLite job registry.

    backend = InHouseBackend(get_config(), get_settings())
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 1, "steps": 4})
    job = backend.wait(job.id, timeout=30)

- `submit` validates the input with the kind's `request_model` (422
  `validation_error`) and `Capability.validate`, answers an idempotency key it has
  seen (same input: same job; other input: 409; both before the input's refs are
  prechecked, which only a new job needs), checks the kind's admission bound
  (429 `capacity` with `retry_after`), records the job (a disk that refuses the write:
  503 `registry_unavailable`, retryable, nothing recorded), and hands it to the pool.
- `cancel` waits up to `CANCEL_WAIT_S` for the job's worker to die; past that it returns
  the job still `running` (the API answers 202) and the job ends `cancelled` when it dies.
- The pool reports starts, progress and outcomes back through `PoolHooks`; every
  change is written to SQLite before anyone can observe it, and wakes `wait`/`events`.
- Construction never blocks on model loads: pools start their workers in background
  threads, so the HTTP server is healthy at once; capability modules (needed in this
  process only for submit-time validation) are imported a second later in the background.
- At start, jobs a dead server left queued/running become failed `interrupted`
  (retryable); finished jobs keep answering. A record this version cannot read is
  quarantined and answers failed `record_unreadable` (registry.py); it never stops the start.
- `close()` stops the thread that re-saves finished jobs the registry refused, before
  closing the registry.
"""

from __future__ import annotations

import pickle
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from pydantic import ValidationError

from ..capabilities import get_capability
from ..config import ComputeConfig, get_config
from ..contract.jobs import KINDS, Cost, Job, JobError, JobStatus, KindCapacity, Progress, WarmLease
from ..errors import IDEMPOTENCY_CONFLICT, INTERNAL, INTERRUPTED, NOT_FOUND, UNKNOWN_KIND, VALIDATION_ERROR, CapabilityError, describe_crash
from ..logs import get_logger
from .pool import KindPool, Outcome, Ticket
from .progress import passes
from .registry import JobRegistry, input_digest
from .tempdirs import TempDirs

if TYPE_CHECKING:
    from ..settings import Settings
    from ..storage.base import ArtifactStore

log = get_logger("canvascast.inhouse")

REGISTRY_FILE = "jobs.sqlite3"
RESOURCE = "inhouse:cpu"
CANCEL_WAIT_S = 10.0
PREIMPORT_DELAY_S = 1.0  # after start-up, so /health answers first
CAPABILITY_UNAVAILABLE = "capability_unavailable"  # its module failed to import (503)
SHUTTING_DOWN = "shutting_down"  # submit after close() (503)


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


def validation_message(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False):
        where = ".".join(str(p) for p in err.get("loc", ())) or "input"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)[:2000]


class InHouseBackend:
    """`JobBackend` over local warm worker pools. Thread-safe; one per server process."""

    name = "inhouse"

    def __init__(
        self,
        config: ComputeConfig | None = None,
        settings: "Settings | None" = None,
        store: "ArtifactStore | None" = None,
        clock: Callable[[], float] = time.time,
        *,
        kinds: list[str] | None = None,
        poll_interval: float = 0.05,
    ):
        if settings is None:
            from ..settings import get_settings

            settings = get_settings()
        self.config = config or get_config()
        self.settings = settings
        self.clock = clock
        self.data_dir = Path(settings.data_dir)
        self.registry = JobRegistry(self.data_dir / REGISTRY_FILE)
        self.recovered = self.registry.recover(self._now())
        for job in self.recovered:
            log.warning("job interrupted by a restart", extra={"job_id": job.id, "kind": job.kind})
        self.tempdirs = TempDirs(self.data_dir / "tmp" / "jobs")
        self.tempdirs.sweep()

        self._cond = threading.Condition()
        self._submit_lock = threading.Lock()
        self._jobs: dict[str, Job] = {}  # live (non-terminal) jobs; terminal ones are read from SQLite
        self._versions: dict[str, int] = {}
        self._tickets: dict[str, Ticket] = {}
        # job_id -> the progress its earlier attempts reached, held until a retry passes it (`on_progress`)
        self._held: dict[str, Progress] = {}
        self._listeners: list[Callable[[Job], Any]] = []
        self._unsaved: dict[str, Job] = {}  # finished jobs the registry could not take yet
        self._resaver: threading.Thread | None = None
        self._stop_resaving = threading.Event()  # close()/abandon(): the registry is about to close
        self._closed = False
        self._dead = False  # abandon(): behave like a killed process, write nothing more

        init = {"settings": settings, "store": _picklable(store)}
        self.pools: dict[str, KindPool] = {}
        for kind in kinds or list(KINDS):
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            self.pools[kind] = KindPool(
                kind,
                self.config.pool(kind),
                self.config.function(kind),
                self,
                self.tempdirs,
                {**init, "kind": kind},
                poll_interval=poll_interval,
            )
        for pool in self.pools.values():
            pool.start()
        # Import the capability modules (for submit-time validation) soon, but not during server start-up.
        self._preimport = threading.Timer(PREIMPORT_DELAY_S, self._import_capabilities)
        self._preimport.daemon = True
        self._preimport.start()

    def _import_capabilities(self) -> None:
        for kind in self.pools:
            if self._closed:
                return
            try:
                get_capability(kind)
            except Exception:  # noqa: BLE001 - submit reports it as capability_unavailable
                log.exception("capability failed to import", extra={"kind": kind})

    # ## Helpers

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    def add_listener(self, listener: Callable[[Job], Any]) -> None:
        """Call `listener(job)` on every change of every job (metrics, logs). Must be quick.

        A job is reported `queued` once, when it is created (possibly after its later
        changes, from the submitting thread); a replay of an idempotency key reports nothing."""
        self._listeners.append(listener)

    def _publish(self, job: Job, *, terminal: bool = False) -> None:
        """Persist, then make visible, then notify. The single place a job changes."""
        if self._dead:
            return
        try:
            self.registry.save(job)
        except Exception:
            if not terminal:
                raise
            # The job is over whatever the disk says: show it finished now and keep saving.
            log.exception("saving a finished job failed; it is served from memory and saved again", extra={"job_id": job.id})
            with self._cond:
                self._unsaved[job.id] = job
            self._start_resaver()
        with self._cond:
            if terminal:
                self._jobs.pop(job.id, None)
                self._versions.pop(job.id, None)
                self._tickets.pop(job.id, None)
                self._held.pop(job.id, None)
            else:
                self._jobs[job.id] = job
                self._versions[job.id] = self._versions.get(job.id, 0) + 1
            self._cond.notify_all()
        for listener in self._listeners:
            try:
                listener(job)
            except Exception:  # noqa: BLE001
                log.exception("job listener failed")

    def _start_resaver(self, every: float = 1.0) -> None:
        def run() -> None:
            while True:
                with self._cond:
                    pending = list(self._unsaved.values())
                if not pending or self._dead or self._stop_resaving.is_set():
                    return
                for job in pending:
                    if self._stop_resaving.is_set():  # close() is waiting: it makes the last try itself
                        return
                    try:
                        self.registry.save(job)
                    except Exception:  # noqa: BLE001 - still failing: next round
                        continue
                    with self._cond:
                        self._unsaved.pop(job.id, None)
                    log.info("finished job saved after all", extra={"job_id": job.id})
                self._stop_resaving.wait(every)  # retry cadence for a failing disk; close() cuts it short

        with self._cond:
            if self._resaver is not None and self._resaver.is_alive():
                return
            self._resaver = threading.Thread(target=run, name="registry-resave", daemon=True)
            self._resaver.start()

    def _live(self, job_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    # ## Submission

    def submit(self, kind: str, input: dict[str, Any], idempotency_key: str | None = None) -> Job:
        if self._closed:
            raise CapabilityError(SHUTTING_DOWN, "the in-house backend is shutting down", retryable=True, http_status=503)
        pool = self.pools.get(kind)
        if pool is None:  # before importing its code: a kind we do not serve is unknown_kind, never a 503
            raise CapabilityError(UNKNOWN_KIND, _not_served(kind), http_status=400)
        capability = _capability(kind)
        if not isinstance(input, dict):
            raise CapabilityError(VALIDATION_ERROR, "input must be a JSON object", http_status=422)
        try:
            request = capability.request_model.model_validate(input)
        except ValidationError as e:
            raise CapabilityError(VALIDATION_ERROR, validation_message(e), http_status=422) from e
        if capability.validate is not None:
            try:
                capability.validate(request)
            except CapabilityError:
                raise
            except (ValueError, TypeError) as e:
                raise CapabilityError(VALIDATION_ERROR, str(e), http_status=422) from e
        digest = input_digest(kind, input)
        if capability.refs is not None:
            # A known key answers its job before the refs are checked: they are checked as they are
            # now (an input removed by retention, a signed URL expired since, a store unreachable),
            # and none of that makes the job accepted under the key any less the answer.
            if idempotency_key is not None and (replayed := self._replay(idempotency_key, digest)) is not None:
                return replayed
            from ..storage.inputs import precheck_request

            precheck_request(capability.refs(request), self.settings)

        with self._submit_lock:
            if self._closed:  # close() sets it under this lock: an admitted job is queued before the pools close
                raise CapabilityError(SHUTTING_DOWN, "the in-house backend is shutting down", retryable=True, http_status=503)
            if idempotency_key is not None and (replayed := self._replay(idempotency_key, digest)) is not None:
                return replayed
            pool.check_room()  # capacity (429): after this, only a closing pool refuses the job
            now = self._now()
            job = Job.queued(new_job_id(), kind, input, idempotency_key, "inhouse", now)
            job, _ = self.registry.create(job, digest)
            ticket = Ticket(job_id=job.id, kind=kind, input=input)
            with self._cond:
                self._jobs[job.id] = job
                self._versions[job.id] = 1
                self._tickets[job.id] = ticket
            try:
                pool.submit(ticket)
            except CapabilityError as e:  # closed between the check and now
                self._finish(ticket, Outcome("failed", error={"code": e.code, "message": e.message, "retryable": True}))
                raise
            if ticket.cancel.is_set() and pool.cancel(job.id) == "dequeued":
                # A cancel came after the job was recorded but before the pool had it: it found
                # nothing to dequeue, so it is done here (a slot that took it first ends it cancelled).
                self._finish(ticket, _cancelled())
        for listener in self._listeners:
            try:
                listener(job)
            except Exception:  # noqa: BLE001
                log.exception("job listener failed")
        log.info("job queued", extra={"job_id": job.id, "kind": kind})
        return job

    def _replay(self, key: str, digest: str) -> Job | None:
        """The job a submit with `key` and this input digest answers (a replay); None if the key is new; 409 if
        the key was used with other input."""
        existing = self.registry.find_key(key)
        if existing is None:
            return None
        job_id, seen_digest = existing
        if seen_digest != digest:
            raise CapabilityError(
                IDEMPOTENCY_CONFLICT,
                f"idempotency key {key!r} was used for job {job_id} with different input; use a new key",
                http_status=409,
            )
        return self.poll(job_id)

    # ## Pool hooks (called from slot threads)

    def on_start(self, ticket: Ticket) -> None:
        job = self._live(ticket.job_id)
        if job is None:
            return
        now = self._now()
        started = job.started_at or now
        if ticket.attempts > 1 and job.progress != Progress():
            with self._cond:
                self._held[job.id] = job.progress  # the high-water mark: the last attempt never showed less
        self._publish(
            job.model_copy(
                update={
                    "status": JobStatus.running,
                    "attempts": ticket.attempts,
                    "started_at": started,
                    "queue_seconds": round((started - job.created_at).total_seconds(), 6),
                    "updated_at": now,
                }
            )
        )

    def on_progress(self, ticket: Ticket, progress: Progress) -> None:
        job = self._live(ticket.job_id)
        if job is None:
            return
        # A retried job's new attempt counts up from zero again: the job's progress holds at what the
        # earlier attempts reached until this one passes it, never steps back (as render does for a
        # retried chunk). The retry shows meanwhile in `attempts`; past the mark, stage and message too.
        with self._cond:
            held = self._held.get(job.id)
            if held is not None:
                if not passes(progress, held):
                    return
                del self._held[job.id]
        self._publish(job.model_copy(update={"progress": progress, "updated_at": self._now()}))

    def on_finish(self, ticket: Ticket, outcome: Outcome) -> None:
        self._finish(ticket, outcome)

    def _finish(self, ticket: Ticket, outcome: Outcome) -> None:
        try:
            self._record_finish(ticket, outcome)
        except Exception as e:  # noqa: BLE001 - never leave a job "running" forever
            log.exception("recording a finished job failed", extra={"job_id": ticket.job_id})
            self._record_finish(ticket, Outcome("failed", error={"code": INTERNAL, "message": f"could not record the outcome: {describe_crash(e)}", "retryable": True}))

    def _record_finish(self, ticket: Ticket, outcome: Outcome) -> None:
        job = self._live(ticket.job_id)
        if job is None:
            return
        now = self._now()
        # Its own worker's time and its parts' on the others (a chunked render's chunks), as on Modal.
        seconds = round(ticket.seconds + ticket.part_seconds, 6)
        update: dict[str, Any] = {
            "status": JobStatus(outcome.status),
            "attempts": ticket.attempts,
            "finished_at": now,
            "updated_at": now,
            "result": outcome.result,
            "error": JobError(**outcome.error) if outcome.error else None,
            "cold_start": outcome.cold_start if outcome.cold_start is not None else job.cold_start,
            "cost": Cost(resource=RESOURCE, seconds=seconds, usd=self.config.usd(job.kind, seconds, backend="inhouse")),
        }
        if outcome.status == "succeeded" and job.progress.total is not None:
            update["progress"] = job.progress.model_copy(update={"done": job.progress.total})
        job = job.model_copy(update=update)
        self._publish(job, terminal=True)
        log.info(
            "job finished",
            extra={"job_id": job.id, "kind": job.kind, "status": job.status.value, "attempts": job.attempts,
                   "code": job.error.code if job.error else None, "seconds": seconds},
        )

    # ## Reading

    def find_by_idempotency_key(self, key: str) -> Job | None:
        """The job a submit with `key` would answer now (a replay), read without submitting; None if it would create one.

        `registry.create` writes a job and its key in one transaction, so this sees both or neither.
        """
        found = None if self._dead else self.registry.find_key(key)
        if found is None:
            return None
        try:
            return self.poll(found[0])
        except CapabilityError as e:
            if e.code == NOT_FOUND:
                return None
            raise

    def poll(self, job_id: str) -> Job:
        job = self._live(job_id)
        if job is not None:
            return job
        with self._cond:
            job = self._unsaved.get(job_id)
        if job is not None:
            return job
        if not self._dead:
            job = self.registry.get(job_id)
        if job is None:
            raise CapabilityError(NOT_FOUND, f"no job {job_id!r}", http_status=404)
        return job

    def progress(self, job_id: str) -> Progress:
        return self.poll(job_id).progress

    def wait(self, job_id: str, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                job = self._jobs.get(job_id)
                if job is None:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return job
                self._cond.wait(remaining)
        return self.poll(job_id)

    def events(self, job_id: str, timeout: float) -> Iterator[Job]:
        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            with self._cond:
                while True:
                    job = self._jobs.get(job_id)
                    version = self._versions.get(job_id, -1)
                    remaining = deadline - time.monotonic()
                    if job is None or version != seen or remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if job is None:
                yield self.poll(job_id)  # terminal (or unknown: not_found)
                return
            if version != seen:
                seen = version
                yield job
            if time.monotonic() >= deadline:
                return

    def capacity(self) -> dict[str, KindCapacity]:
        return {kind: pool.capacity() for kind, pool in self.pools.items()}

    def workers(self, kind: str) -> list[dict[str, Any]]:
        """Live worker processes of a kind: `{slot, pid, loaded, job_id}` each."""
        return self.pools[kind].workers()

    # ## Control

    def cancel(self, job_id: str) -> Job:
        job = self.poll(job_id)
        if job.status.terminal:
            return job
        pool = self.pools[job.kind]
        with self._cond:
            ticket = self._tickets.get(job_id)
        if ticket is not None:
            # Flag it first: a job submit has recorded but not yet queued is not in the pool, and
            # submit checks this flag after queueing it (the slot checks it before every attempt).
            ticket.cancel.set()
        where = pool.cancel(job_id)
        if where == "dequeued":
            if ticket is not None:
                self._finish(ticket, _cancelled())
        else:  # "signalled": the slot kills the worker; None: the job is finishing right now
            self.wait(job_id, CANCEL_WAIT_S)
        return self.poll(job_id)

    def warm(self, kinds: list[str], ttl_s: int, min_containers: int | None = None) -> WarmLease:
        for kind in kinds:
            if kind not in self.pools:
                raise CapabilityError(UNKNOWN_KIND, _not_served(kind), http_status=400)
            _capability(kind)
        expires = self._now() + timedelta(seconds=ttl_s)
        until = time.monotonic() + ttl_s
        for kind in kinds:
            self.pools[kind].warm(until)
        log.info("warm lease", extra={"kinds": kinds, "ttl_s": ttl_s})
        return WarmLease(id="lease_" + secrets.token_hex(8), kinds=list(kinds), min_containers=None, expires_at=expires, backend="inhouse")

    def close(self) -> None:
        """Stop every pool. Jobs still queued or running are recorded as failed `interrupted` (retryable)."""
        with self._submit_lock:  # a submit past its admission check queues its job first (interrupted below)
            if self._closed:
                return
            self._closed = True
        self._preimport.cancel()
        for pool in self.pools.values():
            for ticket in pool.close():
                self._finish(ticket, Outcome("failed", error={"code": INTERRUPTED, "message": "the server shut down before this job ran", "retryable": True}))
        with self._cond:
            leftovers = [self._tickets[j] for j in list(self._jobs) if j in self._tickets]
        for ticket in leftovers:
            self._finish(ticket, Outcome("failed", error={"code": INTERRUPTED, "message": "the server shut down while this job ran", "retryable": True}))
        self.tempdirs.sweep()
        self._stop_resaver()
        with self._cond:
            pending = list(self._unsaved.values())
        for job in pending:  # a last try; what still fails is lost with the process, as on a crash
            try:
                self.registry.save(job)
            except Exception:  # noqa: BLE001
                log.exception("a finished job could not be saved before shutdown", extra={"job_id": job.id})
        self.registry.close()

    def abandon(self) -> None:
        """Die like a killed server (for tests): kill the workers, write nothing more, leave the registry as is."""
        self._dead = True
        self._closed = True
        self._preimport.cancel()
        for pool in self.pools.values():
            pool.close()
        self._stop_resaver()
        self.registry.close()

    def _stop_resaver(self) -> None:
        """The re-save thread ends before the registry closes (else it would retry a closed registry for ever)."""
        self._stop_resaving.set()
        with self._cond:
            resaver = self._resaver
        if resaver is not None and resaver is not threading.current_thread():
            resaver.join()  # at most one save in progress plus a wake-up
    def __enter__(self) -> "InHouseBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cancelled() -> Outcome:
    return Outcome("cancelled", error={"code": "cancelled", "message": "cancelled by request", "retryable": False})


def _not_served(kind: str) -> str:
    if kind in KINDS:
        return f"kind {kind!r} is not served by this backend (started with --kinds without it)"
    return f"unknown kind {kind!r}; expected one of {sorted(KINDS)}"


def _capability(kind: str):
    """The kind's Capability; unknown kind is 400, a capability that fails to import is 503."""
    try:
        return get_capability(kind)
    except CapabilityError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a missing optional dependency
        log.exception("capability failed to import", extra={"kind": kind})
        raise CapabilityError(CAPABILITY_UNAVAILABLE, f"capability {kind!r} is unavailable: {type(e).__name__}: {e}", retryable=True, http_status=503) from e


def _picklable(obj: Any) -> Any:
    if obj is None:
        return None
    try:
        pickle.dumps(obj)
        return obj
    except Exception:  # noqa: BLE001 - the worker builds its own from settings
        return None
