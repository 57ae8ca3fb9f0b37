"""# `JobBackend` on Modal: spawn, poll a FunctionCall, keep the record in a `modal.Dict`

The HTTP API (running in the app's ASGI container) serves the same contract as
in-house; only this backend differs:

- **submit**: validate, answer a known idempotency key (before the input refs are
  prechecked, which only a new job needs), pick the Modal object by job size (Whisper on the GPU class only
  for audio at least `gpu_min_audio_seconds` long), `.spawn({"job_id", "kind", "input"})`,
  then store the job record (with the call id) and the idempotency index in the jobs Dict;
  a Dict write or spawn Modal refuses undoes the submit (503 `modal_unavailable`, or 413
  when the record is too big for the Dict);
- **poll**: `FunctionCall.from_id(id).get(timeout=0)`. A running call raises the builtin
  `TimeoutError`; an expired output raises `OutputExpiredError` -> failed `output_expired`;
  Modal's hard timeout (`FunctionTimeoutError`) -> failed `timeout`; a crashed container
  (`InternalFailure`) -> failed `worker_crashed`; a call the platform terminated (app
  stopped, `RemoteError`) -> failed `interrupted`; Modal unreachable (`modal.exception.
  ConnectionError`, `ServiceError`, `InternalError`, `ResourceExhaustedError`: see
  `_unreachable_errors`) is no outcome: the job stays as it was until the next
  poll, for UNREACHABLE_GRACE_S counted in the jobs Dict (`_unreachable`). A terminal
  job is written back to the Dict, so later polls never depend on Modal still holding
  the output. A measured job is respawned on its resource (`_hand_off`): a
  refused spawn is a 503 `modal_unavailable` to that poll, and past HANDOFF_GRACE_S of
  refusals the job fails with that code (retryable) and frees its slot;
- **cancel**: observed first (a call that already returned is answered as it finished,
  unchanged, as in-house); else the record becomes `cancelled` first, then `FunctionCall.cancel()`;
- **find_by_idempotency_key**: the job the idempotency index points at, observed like a
  poll; None when the index has no entry (never used, undone after a failed spawn, or
  expired by Modal: Dict entries are not kept forever, and then a submit with the key
  makes a new job) or its record is gone;
- **progress**: what `runner.execute` writes through `runtime.progress.MappingSink`;
- **admission**: at most `max_containers` jobs of a kind in flight: a job holds one of the
  kind's slot keys in the `active` Dict, claimed atomically (`put(skip_if_exists=True)`)
  and freed once it ends (polling and the minute sweep notice that), else 429 `capacity`
  with `retry_after`;
- **races**: the Dict has no compare-and-set, so every decision two API containers could
  take at once is an atomic `put(skip_if_exists=True)` (idempotency key, admission slot,
  hand-off, freeing a slot, the job's ending: see `_end`), and the ending is claimed
  before reading the record, while whoever stores a freshly spawned call writes the
  record before reading that claim: one of the two always sees the other, so the call is
  cancelled and the ending stands;
- **warm**: a lease (see `leases.py`);
- **Modal unreachable**: a Dict read or write that Modal could not answer, anywhere in an
  operation, is a retryable 503 `modal_unavailable` (`_answers_unreachable`), never a 500.

Primitives (Dicts, functions, FunctionCall lookup, autoscaler) are injected: the real
`primitives.ModalPrimitives`, or `fake_primitives.FakePrimitives` in tests.
"""

from __future__ import annotations

import functools
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from ..config import ComputeConfig
from ..contract.jobs import KINDS, Cost, Job, JobError, JobStatus, KindCapacity, Progress, WarmLease
from ..errors import (
    CANCELLED,
    IDEMPOTENCY_CONFLICT,
    INTERNAL,
    INTERRUPTED,
    NOT_FOUND,
    OUTPUT_EXPIRED,
    PAYLOAD_TOO_LARGE,
    TIMEOUT,
    VALIDATION_ERROR,
    WORKER_CRASHED,
    CapabilityError,
    describe_crash,
)
from ..logs import get_logger
from ..runtime.capacity import CapacityFull
from ..runtime.progress import read_mapping
from ..runtime.registry import RECORD_UNREADABLE, describe_invalid, input_digest, read_stored_job, unreadable_job
from .fanout import billed_seconds
from .leases import MODAL_UNAVAILABLE, LeaseBook
from .primitives import Primitives
from .runner import add_billed, progress_key, run_key
from .settings_from_toml import MODAL_OBJECTS, object_kwargs

log = get_logger(__name__)


def job_key(job_id: str) -> str:
    return f"job:{job_id}"


def idem_key(key: str) -> str:
    return f"idem:{key}"


def active_key(kind: str, slot: int | str) -> str:
    """One admission slot of `kind` in the `active` Dict (value: the job holding it)."""
    return f"{kind}:slot{slot}"


def end_key(job_id: str) -> str:
    """The job's one ending, claimed before the record is written (see `_end`)."""
    return f"end:{job_id}"


def handoff_key(job_id: str) -> str:
    return f"handoff:{job_id}"


def freed_key(job_id: str) -> str:
    return f"freed:{job_id}"


def refused_key(job_id: str) -> str:
    """When Modal first refused the job's hand-off spawn (see `_hand_off`)."""
    return f"refused:{job_id}"


def unanswered_key(call_id: str) -> str:
    """Since when Modal has not answered about the call (see `_unreachable`)."""
    return f"unanswered:{call_id}"


RETRY_AFTER_S = 5
SPAWN_GRACE_S = 120.0
"""A job still without a call id this long after its submit (or hand-off) started spawning
lost that submit (the API container died, a Dict write failed): it is settled as failed
`interrupted` (retryable) and its slot freed. A spawn round trip takes well under this."""
# How long a call Modal cannot be asked about stays in flight before it is a retryable failure (`_unreachable`).
UNREACHABLE_GRACE_S = 300.0
# An unanswered-since mark not renewed for this long is an earlier outage (Modal answered
# since): during one, the minute sweep alone asks about every call in flight each ~60 s.
UNANSWERED_GAP_S = 180.0
# How long Modal may keep refusing a job's hand-off spawn before the job fails (`_hand_off`).
HANDOFF_GRACE_S = 300.0


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _unreachable_errors() -> tuple[type[Exception], ...]:
    """What Modal's client raises when it could not get an answer (after its own retries):
    no connection, the service unavailable or failing inside, a rate limit. Not an answer:
    the same request may get through a moment later."""
    from modal.exception import ConnectionError as ModalConnectionError
    from modal.exception import InternalError, ResourceExhaustedError, ServiceError

    return (ModalConnectionError, ServiceError, InternalError, ResourceExhaustedError)


def _unavailable(e: Exception) -> CapabilityError:
    return CapabilityError(MODAL_UNAVAILABLE, f"Modal could not be reached; try again: {describe_crash(e)}",
                           retryable=True, http_status=503)


def _answers_unreachable(method: Callable) -> Callable:
    """A public operation whose Dict (or control-plane) call Modal could not answer is a
    retryable 503 `modal_unavailable`, not a 500: every step writes before it relies on the
    write, so a request cut short leaves the job as the next one finds it."""

    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _unreachable_errors() as e:
            raise _unavailable(e) from e

    return wrapped


# The in-house backend's digest (1.0 and 1 alike), so both answer a same-key replay alike.
_fingerprint = input_digest


CPU_MODELS = frozenset({"tiny", "tiny.en", "base", "base.en"})
"""Whisper models the CPU twin runs at a useful speed; bigger ones go to the GPU class."""


def choose_object(config: ComputeConfig, kind: str, request: Any) -> tuple[str, bool]:
    """The Modal object for this job and whether its size is settled (seed 001: resource by size).

    transcribe_audio: a model too big for CPU (not in `CPU_MODELS`) always takes the GPU
    class, where `ALIGN_WARM_MODELS` has it loaded. Otherwise, with a known length
    (`duration_s`), the GPU class at or above `gpu_min_audio_seconds`, else the CPU twin.
    With an unknown length, the CPU twin, which measures the audio first and hands long
    audio to the GPU (see sizing.py).
    """
    if kind == "transcribe_audio":
        threshold = config.function(kind).gpu_min_audio_seconds
        if threshold is None or getattr(request, "model", "tiny.en") not in CPU_MODELS:
            return "Transcriber", True
        seconds = getattr(request, "duration_s", None)
        if seconds is None:
            return "TranscriberCPU", False
        return ("Transcriber" if seconds >= threshold else "TranscriberCPU"), True
    return MODAL_OBJECTS[kind][0], True


def _resource(config: ComputeConfig, object_name: str) -> tuple[str | None, float]:
    kw = object_kwargs(config, object_name)
    return kw["gpu"], kw["cpu"]


def _object_usd(config: ComputeConfig, kw: dict[str, Any], seconds: float) -> float:
    """`seconds` of a Modal object with decorator settings `kw` (`object_kwargs`), at `[prices]`:
    `config.usd` prices a kind's table, and `[functions.render_chunk]` may have its own memory."""
    rate = config.prices.cpu_core * kw["cpu"] + config.prices.memory_gib * kw["memory"] / 1024
    if kw["gpu"]:
        rate += config.prices.gpu.get(kw["gpu"], 0.0)
    return seconds * rate


class ModalBackend:
    name = "modal"

    def __init__(
        self,
        config: ComputeConfig,
        primitives: Primitives,
        *,
        clock: Callable[[], float] = time.time,
        wait_slice: float = 1.0,
    ):
        self.config = config
        self.p = primitives
        self.clock = clock
        self.wait_slice = wait_slice
        self._unreachable_since: dict[str, tuple[float, float]] = {}  # call id -> (first, last) unanswered poll this object saw
        self.leases = LeaseBook(config, primitives.leases, primitives.autoscaler, clock=clock)

    # ## Records

    def _load(self, job_id: str) -> dict[str, Any]:
        rec = self._read(job_id)
        if rec is None:
            raise CapabilityError(NOT_FOUND, f"no job {job_id}", http_status=404)
        return rec

    def _read(self, job_id: str) -> dict[str, Any] | None:
        """The job's record, None if there is none; one this version cannot read is salvaged first."""
        rec = self.p.jobs.get(job_key(job_id))
        if rec is None:
            return None
        try:
            job = read_stored_job(rec.get("job") if isinstance(rec, dict) else None)
        except ValidationError as e:  # damaged, or written by a version this one cannot read
            return self._salvage(job_id, rec if isinstance(rec, dict) else {}, describe_invalid(e))
        # A newer version's extra fields are dropped in what this version reads, not in the Dict.
        return rec if rec.get("job") == job.model_dump(mode="json") else {**rec, "job": job.model_dump(mode="json")}

    def _salvage(self, job_id: str, rec: dict[str, Any], reason: str) -> dict[str, Any]:
        """A record this version cannot read: kept under `unreadable`, answered as failed
        `record_unreadable` (as in-house), or as the ending already claimed (see `_end`), its
        call cancelled and its slot freed. A kind this
        version does not know cannot be a Job at all: 410, the record left as it was."""
        stored = rec.get("job") if isinstance(rec.get("job"), dict) else {}
        kind, status = stored.get("kind"), str(stored.get("status"))
        log.error("stored job unreadable; replaced", extra={"job_id": job_id, "kind": kind, "status": status, "reason": reason})
        if kind not in KINDS:
            raise CapabilityError(RECORD_UNREADABLE, f"job {job_id!r} was recorded for kind {kind!r}, which this version "
                                                     "does not know; it is kept as it was", http_status=410)
        key = stored.get("idempotency_key")
        job = unreadable_job(job_id, kind, status, stored, key if isinstance(key, str) else None,
                             stored.get("created_at") if isinstance(stored.get("created_at"), str) else None,
                             reason, _now(), backend="modal")
        # The ending is claimed, as in `_end`: a container of another version may be settling
        # the job right now (it reads the record fine), and one ending must stand for both.
        if not self.p.jobs.put(end_key(job_id), job.model_dump(mode="json"), skip_if_exists=True):
            job = _read_claim(job_id, self.p.jobs.get(end_key(job_id))) or job  # unreadable too: the salvage's own
        kept = {**rec, "unreadable": rec.get("job")}
        self._save(kept, job)
        if rec.get("call_id"):
            self._cancel_call(rec["call_id"])
        return {**kept, "job": job.model_dump(mode="json")}

    def _save(self, rec: dict[str, Any], job: Job) -> None:
        rec = {**rec, "job": job.model_dump(mode="json")}
        self.p.jobs[job_key(job.id)] = rec
        if job.status.terminal:
            self._free_slot(job.kind, job.id, rec.get("slot"))

    def _end(self, job: Job, *, stop_call: bool = True) -> Job:
        """Settle a non-terminal job as `job` (its call's outcome, a cancel, a lost submit) and,
        with `stop_call`, cancel its call. Returns the ending that stands.

        The ending is claimed first (`put(skip_if_exists=True)`): a poll that saw the call's
        result and a cancel racing it both read a record not yet terminal, and each writing
        its own would answer one ending and store the other. The first claim stands; the
        other reads it and answers (and stores) that one. The claim also comes before
        reading the record: a submit or hand-off storing a new call id writes first and
        reads the claim after (see `_attach`), so one of us sees the other.
        """
        if not self.p.jobs.put(end_key(job.id), job.model_dump(mode="json"), skip_if_exists=True):
            # A claim this version cannot read (a newer one's, during a rollout) leaves our own
            # ending, as in `_salvage`: failing here would answer a 500 on every try.
            job = _read_claim(job.id, self.p.jobs.get(end_key(job.id))) or job
        latest = self._load(job.id)
        if Job.model_validate(latest["job"]).status.terminal:  # already stored
            return Job.model_validate(latest["job"])
        self._save(latest, job)
        if stop_call and latest.get("call_id"):
            self._cancel_call(latest["call_id"])
        return job

    def _attach(self, job_id: str, call_id: str, fields: dict[str, Any]) -> Job:
        """Store a just-spawned call in the job's record, unless the job ended meanwhile: then cancel the call.

        The record is re-read (it may have changed while spawning) and, after the write,
        the end mark is read: a cancel that read the record before our write (so saw no
        call) has marked by then, and its ending is put back over our write.
        """
        latest = self._load(job_id)
        rec = {**latest, **fields, "call_id": call_id}
        job = Job.model_validate(latest["job"])
        if not job.status.terminal:
            self.p.jobs[job_key(job_id)] = rec
            ended = self.p.jobs.get(end_key(job_id))
            if ended is None:
                return job
            claimed = _read_claim(job_id, ended)
            if claimed is not None:
                job = claimed
                self._save(rec, job)
            # else: a claim this version cannot read. The call is cancelled below, and the next
            # poll that sees it ended settles the job through `_end`, with an ending of its own.
        self._cancel_call(call_id)
        return job

    def _cancel_call(self, call_id: str) -> None:
        try:
            self.p.function_call(call_id).cancel(terminate_containers=True)
        except Exception:  # noqa: BLE001 - the record already says how the job ended
            pass

    # ## Admission: a kind takes at most `max_containers` jobs in flight, one slot key each

    def _slots(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        prefix = f"{kind}:slot"
        return [(k, v) for k, v in list(self.p.active.items()) if str(k).startswith(prefix) and isinstance(v, dict)]

    def _in_flight(self, kind: str) -> list[str]:
        return [v["job_id"] for _, v in self._slots(kind)]

    def _free_slot(self, kind: str, job_id: str, slot: int | None) -> None:
        """Free the job's slot, once: two pollers freeing it together could otherwise pop a slot
        a new job claimed between the first pop and the second (the Dict has no compare-and-delete).

        The once-mark holds when it was made; a slot still naming the job SPAWN_GRACE_S after
        it is one whose pop was lost (a Dict error, a container gone mid-free): popped then."""
        if slot is None:
            return
        if not self.p.jobs.put(freed_key(job_id), self.clock(), skip_if_exists=True):
            marked = self.p.jobs.get(freed_key(job_id))
            if not isinstance(marked, (int, float)) or self.clock() - marked <= SPAWN_GRACE_S:
                return
        if (self.p.active.get(active_key(kind, slot)) or {}).get("job_id") == job_id:
            self.p.active.pop(active_key(kind, slot), None)

    def sweep(self, kind: str | None = None) -> int:
        """Poll every in-flight job (of `kind`), so finished ones free their slot. Returns how many remain."""
        remaining = 0
        for k in [kind] if kind else [k for k in MODAL_OBJECTS if k != "api"]:
            for key, held in self._slots(k):
                slot = int(str(key).rsplit("slot", 1)[1])
                try:
                    remaining += self._sweep_one(k, slot, held)
                except Exception as e:  # noqa: BLE001 - one job that cannot be checked (a failed hand-off
                    # spawn, a Dict error) must not keep the others' slots taken, nor turn a full kind's 429 into a 500
                    log.warning("in-flight job not checked", extra={"job_id": held.get("job_id"), "kind": k, "error": describe_crash(e)})
                    remaining += 1
        return remaining

    def _sweep_one(self, kind: str, slot: int, held: dict[str, Any]) -> int:
        """Check the job holding `slot`: 1 if it is still in flight, 0 once its slot is freed."""
        try:
            rec = self._read(held["job_id"])
        except CapabilityError:  # a record of a kind this version does not know: never a job here
            rec = None
        if rec is None:  # a submit still writing its record, or one that died before
            if self.clock() - held["at"] > SPAWN_GRACE_S:
                self._free_slot(kind, held["job_id"], slot)
                return 0
            return 1
        if self._observe(rec, 0).status.terminal:
            self._free_slot(kind, held["job_id"], slot)  # frees it, or repairs a free whose pop was lost
            return 0
        return 1

    def _claim_slot(self, kind: str, job_id: str) -> int:
        """One of the kind's `max_containers` slots for this job, else 429 `capacity`.

        Beyond that Modal would only queue them behind each other; the worker's scheduler
        is better placed to wait, retry later or run the job in-house. The claim is atomic
        (`put(skip_if_exists=True)`), so concurrent submits never overfill the kind.
        """
        cap = self.config.function(kind).max_containers
        for swept in (False, True):
            if swept:
                self.sweep(kind)
            taken = {str(k) for k, _ in self._slots(kind)}
            for slot in range(cap):
                if active_key(kind, slot) not in taken and self.p.active.put(
                    active_key(kind, slot), {"job_id": job_id, "at": self.clock()}, skip_if_exists=True
                ):
                    return slot
        raise CapacityFull(kind, RETRY_AFTER_S, f"{kind}: {cap} jobs already in flight on Modal (max_containers)")

    # ## Submit

    @_answers_unreachable
    def submit(self, kind: str, input: dict[str, Any], idempotency_key: str | None = None) -> Job:
        from ..capabilities import get_capability

        capability = get_capability(kind)  # unknown_kind (400)
        try:
            request = capability.request_model.model_validate(input)
        except Exception as e:  # pydantic ValidationError
            raise CapabilityError(VALIDATION_ERROR, str(e)[:2000], http_status=422) from e
        if capability.validate is not None:
            capability.validate(request)
        # A known key answers its job before the refs are checked: they are checked as they are
        # now (an input removed by retention, a signed URL expired since), and none of that
        # makes the job accepted under the key any less the answer (as in-house).
        if idempotency_key is not None:
            existing = self.p.jobs.get(idem_key(idempotency_key))
            if existing is not None:
                try:
                    return self._replay(existing, kind, input, idempotency_key)
                except CapabilityError as e:
                    if e.code != NOT_FOUND:
                        raise
                    # its submit undid itself (a failed spawn) after we read its key: the key is
                    # free, claimed below (where a key whose record stays gone still answers 404)
        if capability.refs is not None:
            from ..storage.inputs import precheck_request

            precheck_request(capability.refs(request))
        object_name, sized = choose_object(self.config, kind, request)
        now = _now()
        job_id = uuid.uuid4().hex
        slot = self._claim_slot(kind, job_id)
        job = Job.queued(job_id, kind, input, idempotency_key, "modal", now)
        # The record exists before the idempotency claim and the spawn, so whoever finds
        # the index or polls right after submit always finds the job. `spawning_since`
        # bounds how long it may stay without a call id (see SPAWN_GRACE_S).
        rec = {"job": job.model_dump(mode="json"), "call_id": None, "object": object_name, "slot": slot, "spawning_since": self.clock()}
        try:
            self.p.jobs[job_key(job_id)] = rec
            replayed = None if idempotency_key is None else self._claim_key(job_id, kind, input, idempotency_key, slot)
        except CapabilityError:  # the claim's own answer (a same-key replay's error), its submit already undone
            raise
        except Exception as e:  # a Dict blip (or a record too big for it): nothing spawned yet
            self._undo_submit(job_id, kind, slot, idempotency_key, None)
            raise _refused("could not record the job on Modal", e) from e
        if replayed is not None:
            return replayed
        call = None
        try:
            call = self.p.function(object_name).spawn({"job_id": job_id, "kind": kind, "input": input, "sized": sized})
            return self._attach(job_id, call.object_id, {})
        except Exception as e:
            self._undo_submit(job_id, kind, slot, idempotency_key, call.object_id if call is not None else None)
            raise _refused("could not spawn on Modal", e) from e

    def _claim_key(self, job_id: str, kind: str, input: dict[str, Any], key: str, slot: int) -> Job | None:
        """Claim the idempotency key for the new job; if a concurrent submit with it won, undo
        ours and answer that one's job (or its error)."""
        entry = {"job_id": job_id, "fingerprint": _fingerprint(kind, input)}
        vanished = 0  # winners whose record was gone when we read it (bounded: see below)
        while not self.p.jobs.put(idem_key(key), entry, skip_if_exists=True):
            winner = self.p.jobs.get(idem_key(key))
            if winner is None:
                continue  # gone again: the winner's spawn failed and it undid its claim, so the key is free
            try:  # a concurrent submit with the same key won
                replayed = self._replay(winner, kind, input, key)
            except CapabilityError as e:
                # Its record gone: that submit undid itself between our read of its key and of
                # its record (it drops the key first), so ask for the key again, a few times;
                # a key whose record stays gone (expired apart from it) still answers 404.
                if e.code == NOT_FOUND and vanished < 3:
                    vanished += 1
                    continue
                self.p.jobs.pop(job_key(job_id), None)
                self._free_slot(kind, job_id, slot)
                raise
            self.p.jobs.pop(job_key(job_id), None)
            self._free_slot(kind, job_id, slot)
            return replayed
        return None

    def _undo_submit(self, job_id: str, kind: str, slot: int, key: str | None, call_id: str | None) -> None:
        """Undo a submit that failed after claiming its slot (the caller gets an error and may
        resend the same key); a call already spawned must not run on untracked.

        The key goes before the record (and only while it names this job: a failed claim may
        or may not have landed): a same-key submit meanwhile never finds the key naming a
        record already gone (a 404 to a POST). Each step in turn, stopping at the first that
        fails (the Dict is down): a record left without a call id is settled after
        SPAWN_GRACE_S and answers the key; a slot naming no record is freed by the sweep.
        """
        try:
            if call_id is not None:
                self._cancel_call(call_id)
            if key is not None and (self.p.jobs.get(idem_key(key)) or {}).get("job_id") == job_id:
                self.p.jobs.pop(idem_key(key), None)
            self.p.jobs.pop(job_key(job_id), None)
            self._free_slot(kind, job_id, slot)
        except Exception as e:  # noqa: BLE001 - the submit's own error is the answer
            log.warning("failed submit not fully undone; settled later", extra={"job_id": job_id, "kind": kind, "error": describe_crash(e)})

    def _replay(self, existing: dict[str, Any], kind: str, input: dict[str, Any], key: str) -> Job:
        if existing.get("fingerprint") != _fingerprint(kind, input):
            # Read the record too, as every other read of the entry does: Modal drops a Dict
            # entry after 7 days without a read or write, so conflicting POSTs alone would keep
            # the entry alive past its record, and a same-request POST would then get a 404.
            self.p.jobs.get(job_key(existing["job_id"]))
            raise CapabilityError(IDEMPOTENCY_CONFLICT, f"idempotency key {key!r} was used with a different request", http_status=409)
        return self.poll(existing["job_id"])

    # ## Poll

    def _seen(self, job: Job) -> dict[str, Any]:
        """What the body wrote so far: attempt, start, cold start, progress and last heartbeat."""
        run = self.p.jobs.get(run_key(job.id)) or {}
        progress, heartbeat = read_mapping(self.p.jobs, progress_key(job.id))
        update: dict[str, Any] = {"progress": progress, "updated_at": _now()}
        if run:
            update["attempts"] = run.get("attempt", job.attempts)
            update["started_at"] = job.started_at or datetime.fromtimestamp(run["started_at"], timezone.utc)
            update["cold_start"] = run.get("cold_start")
            update["status"] = JobStatus.running
            if heartbeat:
                update["updated_at"] = max(datetime.fromtimestamp(heartbeat, timezone.utc), job.created_at)
        return update

    def _observe(self, rec: dict[str, Any], timeout: float, *, hand_off: bool = True) -> Job:
        """The job as it is now, written back once terminal. `hand_off=False` (a cancel): a
        measured job is not spawned on its next resource, only to be cancelled there."""
        job = Job.model_validate(rec["job"])
        if job.status.terminal:
            return job
        update = self._seen(job)
        if rec.get("call_id") is None:
            since = rec.get("spawning_since") or job.created_at.timestamp()
            if self.clock() - since > SPAWN_GRACE_S:  # its submit died between spawn and storing the call
                return self._end(_ended(job, JobStatus.failed, INTERRUPTED, "the submit was lost before the job's call was recorded", True))
            return job.model_copy(update=update)
        outcome = self._get(rec["call_id"], timeout)
        if outcome is None:
            return job.model_copy(update=update)
        if outcome.get("handoff"):
            return self._hand_off(rec, job, outcome) if hand_off else job.model_copy(update=update)
        update = self._seen(job)  # the body's last word, written before its output
        # Unless cancelled meanwhile. A call given up on as unanswered may still be running: stopped.
        return self._end(self._finish(job.model_copy(update=update), rec, outcome), stop_call=bool(outcome.get("unanswered")))

    def _get(self, call_id: str, timeout: float) -> dict[str, Any] | None:
        """The call's output as an outcome dict, or None while it runs."""
        from modal.exception import FunctionTimeoutError, InternalFailure, OutputExpiredError, RemoteError

        try:
            out = self.p.function_call(call_id).get(timeout=timeout)
        except _unreachable_errors() as e:
            return self._unreachable(call_id, timeout, e)
        except TimeoutError:  # builtin: still running
            out = None
        except OutputExpiredError:
            out = _failure(OUTPUT_EXPIRED, "Modal no longer holds this job's output (result retention expired)", retryable=True)
        except FunctionTimeoutError as e:
            out = _failure(TIMEOUT, f"Modal stopped the job at its hard timeout: {e}", retryable=True)
        except InternalFailure as e:
            out = _failure(WORKER_CRASHED, f"the Modal container failed: {e}", retryable=True)
        except RemoteError as e:  # terminated by the platform (app stopped, redeployed over it)
            out = _failure(INTERRUPTED, f"Modal terminated the call before it finished: {e}", retryable=True)
        except CapabilityError as e:
            out = {"ok": False, "error": e.to_error().model_dump(mode="json")}
        except Exception as e:  # noqa: BLE001 - any remote exception is a coded failure
            out = _failure(INTERNAL, describe_crash(e))
        if self._unreachable_since.pop(call_id, None) is not None:  # Modal answered: a later blip starts its own grace
            try:
                self.p.jobs.pop(unanswered_key(call_id), None)
            except Exception:  # noqa: BLE001 - a mark left behind lapses after UNANSWERED_GAP_S anyway
                pass
        return out

    def _unreachable(self, call_id: str, timeout: float, e: Exception) -> dict[str, Any] | None:
        """Modal could not be asked (its client gave up after its own retries): not the call's
        outcome, so the job stays as it was, for UNREACHABLE_GRACE_S. The same types also come
        back when the call's own body raised one (Modal re-raises a remote exception as its
        type): such a call answers so on every poll, and past the grace it is a retryable
        failure instead of a job in flight forever. The grace is counted in the jobs Dict:
        polls land on any API container, and the minute sweep is a new backend each tick."""
        now = self.clock()
        first = self._first_unanswered(call_id, now)
        if now - first > UNREACHABLE_GRACE_S:
            self._unreachable_since.pop(call_id, None)
            failure = _failure(INTERNAL, f"Modal answered {type(e).__name__} about this call for over {UNREACHABLE_GRACE_S:.0f} s: "
                                         f"{describe_crash(e)}", retryable=True)
            return {**failure, "unanswered": True}  # not the call's outcome: it may still run (and bill), so it is cancelled
        if first == now:  # once per outage of this call, not once per poll
            log.warning("could not poll a Modal call; asking again next time", extra={"call_id": call_id, "error": describe_crash(e)})
        time.sleep(max(0.0, min(timeout, 1.0)))  # a wait or an event stream asks again, but not in a busy loop
        return None

    def _first_unanswered(self, call_id: str, now: float) -> float:
        """When Modal stopped answering about the call: the earlier of what this object saw
        and the jobs Dict's mark, each a (first, last) unanswered poll renewed by every
        unanswered poll. One not renewed for UNANSWERED_GAP_S is an earlier outage, in this
        object's memory as in the Dict: Modal may have answered since through another container
        or the sweep, which need not have known of it (only an object that saw the outage itself
        clears its records). A Dict that fails too leaves what this object saw."""
        first = now
        mine = self._unreachable_since.get(call_id)
        if mine is not None and now - mine[1] <= UNANSWERED_GAP_S:
            first = mine[0]
        try:
            mark = self.p.jobs.get(unanswered_key(call_id))
            shared = mark.get("first") if isinstance(mark, dict) else None
            last = mark.get("last") if isinstance(mark, dict) else None
            if isinstance(shared, (int, float)) and isinstance(last, (int, float)) and now - last <= UNANSWERED_GAP_S:
                first = min(first, shared)
            self.p.jobs[unanswered_key(call_id)] = {"first": first, "last": now}
        except Exception:  # noqa: BLE001 - Modal's Dict unreachable as well: asked again next poll
            pass
        self._unreachable_since[call_id] = (first, now)
        return first

    def _finish(self, job: Job, rec: dict[str, Any], out: dict[str, Any]) -> Job:
        now = datetime.fromtimestamp(out["finished_at"], timezone.utc) if out.get("finished_at") else _now()
        if job.started_at is not None and now < job.started_at:
            now = job.started_at
        update: dict[str, Any] = {"finished_at": now, "updated_at": now}
        if out.get("attempt"):
            update["attempts"] = out["attempt"]
        if out.get("cold_start") is not None:
            update["cold_start"] = out["cold_start"]
        if out.get("ok"):
            update.update(
                status=JobStatus.succeeded,
                result=out["result"],
                progress=job.progress if job.progress.total is None else job.progress.model_copy(update={"done": job.progress.total}),
                cost=self._cost(job, rec, out),
            )
        else:
            update.update(status=JobStatus.failed, error=JobError.model_validate(out["error"]))
            # The runner's failure ran and billed like a success (as in-house prices every finish). A
            # failure made here (a crashed container, a lost call: no runner output) says no time: no cost.
            if out.get("seconds") is not None:
                update["cost"] = self._cost(job, rec, out)
        if job.started_at is not None:
            update["queue_seconds"] = round((job.started_at - job.created_at).total_seconds(), 3)
        return job.model_copy(update=update)

    def _cost(self, job: Job, rec: dict[str, Any], out: dict[str, Any]) -> Cost:
        """The job's container plus what it ran on other objects (`billed`: a chunked render's
        `render_chunk` calls, failed attempts included), each at its own table's price, as
        Remotion Lambda's `estimatedPrice` sums every lambda. `resource` names each resource
        once, the job's own first (`cpu:8`, or `cpu:8+cpu:4` when the chunk table differs)."""
        gpu, cpu = _resource(self.config, rec["object"])
        seconds = float(out.get("seconds") or 0.0)
        usd = self.config.usd(job.kind, seconds, backend="modal", gpu=gpu or "", cpu=cpu)
        resources = [out.get("resource") or (gpu or f"cpu:{cpu:g}")]
        billed = add_billed(out.get("billed"), rec.get("handoff_billed"))  # the probe that handed the job here ran too
        for object_name, used in sorted(billed.items()):
            try:
                kw = object_kwargs(self.config, object_name)
                used = float(used)
            except (KeyError, TypeError, ValueError):  # an object this config does not know: not priced, said so
                log.warning("billed seconds of an unknown object left out of the cost", extra={"job_id": job.id, "object": object_name})
                continue
            seconds += used
            usd += _object_usd(self.config, kw, used)
            resource = kw["gpu"] or f"cpu:{kw['cpu']:g}"
            if resource not in resources:
                resources.append(resource)
        return Cost(resource="+".join(resources), seconds=round(seconds, 3), usd=round(usd, 8))

    def _hand_off(self, rec: dict[str, Any], job: Job, outcome: dict[str, Any]) -> Job:
        """The job measured itself and belongs on `outcome["handoff"]`: spawn it there, same record.

        Every poll sees the measuring call's answer; only the one that claims the hand-off
        key spawns, the others read the record (the new call once the winner stored it).
        The probe's container time (`outcome["seconds"]`) is kept in the record for the
        job's cost (`handoff_billed`, per object, priced at the probe object's table);
        a hand-off that fails for good is priced at the probe alone.
        """
        object_name = outcome["handoff"]
        probe = add_billed(rec.get("handoff_billed"), _probe_billed(rec, outcome))
        claim = {"from": rec.get("call_id"), "at": self.clock()}
        if not self.p.jobs.put(handoff_key(job.id), claim, skip_if_exists=True):
            latest = self._load(job.id)
            if latest.get("call_id") != rec.get("call_id") or Job.model_validate(latest["job"]).status.terminal:
                return self._observe(latest, 0)
            claimed = self.p.jobs.get(handoff_key(job.id)) or claim
            if self.clock() - claimed["at"] > SPAWN_GRACE_S:  # the winner died before storing its call
                return self._end(_ended(job, JobStatus.failed, INTERRUPTED, "the hand-off was lost before its call was recorded", True))
            return job
        try:
            call = self.p.function(object_name).spawn({"job_id": job.id, "kind": job.kind, "input": job.input, "sized": True})
        except Exception as e:
            self.p.jobs.pop(handoff_key(job.id), None)  # nothing spawned: let the next poll try again
            # ...but not forever: a job whose hand-off Modal keeps refusing would hold its
            # admission slot for good. Past the grace it fails, retryable, and frees it.
            if self.clock() - self._first_refusal(job.id) > HANDOFF_GRACE_S:
                log.warning("hand-off refused past its grace; job failed", extra={"job_id": job.id, "object": object_name, "error": describe_crash(e)})
                refused = _ended(job, JobStatus.failed, MODAL_UNAVAILABLE, f"Modal refused to take the job on {object_name} "
                                 f"for over {HANDOFF_GRACE_S:.0f} s: {describe_crash(e)}", True)
                if outcome.get("seconds") is not None:  # the probe ran and billed: the job's only container
                    refused = refused.model_copy(update={"cost": self._cost(job, rec, outcome)})
                return self._end(refused)
            raise CapabilityError(MODAL_UNAVAILABLE, f"could not hand the job to {object_name} on Modal: {e}",
                                  retryable=True, http_status=503) from e
        try:
            self.p.jobs.pop(refused_key(job.id), None)
            return self._attach(job.id, call.object_id, {"object": object_name, "handed_off_from": rec.get("object"), "handoff_billed": probe})
        except Exception:
            self._undo_hand_off(job.id, call.object_id)
            raise

    def _undo_hand_off(self, job_id: str, call_id: str) -> None:
        """The hand-off's call may not be in the record (a Dict failure while storing it):
        such a call runs with nobody knowing its id, and its claim would hold until the job
        fails `interrupted`. Cancelled and the claim dropped, so the next poll hands off
        again (the measuring call still answers where the job belongs). A record that does
        name it (the failure came after the write) follows it; one that cannot be read
        leaves both as they are (the claim's SPAWN_GRACE_S settles the job)."""
        try:
            if (self.p.jobs.get(job_key(job_id)) or {}).get("call_id") == call_id:
                return
            self._cancel_call(call_id)
            self.p.jobs.pop(handoff_key(job_id), None)
        except Exception as e:  # noqa: BLE001 - the poll's own error is the answer
            log.warning("failed hand-off not undone; settled later", extra={"job_id": job_id, "call_id": call_id, "error": describe_crash(e)})

    def _first_refusal(self, job_id: str) -> float:
        """When Modal first refused this job's hand-off (shared by every API container and the sweep)."""
        now = self.clock()
        if self.p.jobs.put(refused_key(job_id), now, skip_if_exists=True):
            return now
        first = self.p.jobs.get(refused_key(job_id))
        return first if isinstance(first, (int, float)) else now

    @_answers_unreachable
    def poll(self, job_id: str) -> Job:
        return self._observe(self._load(job_id), 0)

    @_answers_unreachable
    def find_by_idempotency_key(self, key: str) -> Job | None:
        """What `submit` with this key would answer (a replay), read without submitting; None if it would create a job."""
        entry = self.p.jobs.get(idem_key(key))
        if entry is None:
            return None
        rec = self._read(entry["job_id"])
        if rec is None:  # the index outlived its record (or a racing submit is undoing its claim)
            return None
        return self._observe(rec, 0)

    # ## Cancel

    @_answers_unreachable
    def cancel(self, job_id: str) -> Job:
        # Observed first, as in-house: a call that returned before the cancel (nobody polled
        # it yet) is answered as it finished, not `cancelled` with its result thrown away.
        job = self._observe(self._load(job_id), 0, hand_off=False)
        if job.status.terminal:
            return job
        return self._end(_ended(job, JobStatus.cancelled, CANCELLED, "cancelled by request"))

    # ## Progress, wait, events

    @_answers_unreachable
    def progress(self, job_id: str) -> Progress:
        job = Job.model_validate(self._load(job_id)["job"])
        if job.status.terminal:
            return job.progress
        return read_mapping(self.p.jobs, progress_key(job_id))[0]

    @_answers_unreachable
    def wait(self, job_id: str, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            job = self._observe(self._load(job_id), max(0.0, min(self.wait_slice, remaining)))
            if job.status.terminal or remaining <= 0:
                return job

    def events(self, job_id: str, timeout: float) -> Iterator[Job]:
        deadline = time.monotonic() + timeout
        last: tuple | None = None
        while True:
            remaining = deadline - time.monotonic()
            try:
                job = self._observe(self._load(job_id), max(0.0, min(0.25, remaining)))
            except _unreachable_errors() as e:  # as `_answers_unreachable`, for a generator
                raise _unavailable(e) from e
            seen = (job.status, job.progress, job.attempts)
            if seen != last:
                last = seen
                yield job
            if job.status.terminal or remaining <= 0:
                return

    # ## Capacity and warm leases

    @_answers_unreachable
    def capacity(self) -> dict[str, KindCapacity]:
        """Modal queues beyond `max_containers` itself: `free` is containers not busy with our jobs."""
        minimums = self.leases.desired()
        out = {}
        for kind in self.config.functions:
            if kind not in KINDS:  # the front door, a chunk pool's own table: no jobs of their own
                continue
            fn = self.config.function(kind)
            busy = len(self._in_flight(kind))
            warm = any(minimums.get(name, 0) > 0 for name in MODAL_OBJECTS[kind])
            out[kind] = KindCapacity(
                workers=fn.max_containers, busy=busy, queued=0, queue_limit=0, free=max(0, fn.max_containers - busy), warm=warm
            )
        return out

    @_answers_unreachable
    def warm(self, kinds: list[str], ttl_s: int, min_containers: int | None = None) -> WarmLease:
        return self.leases.grant(kinds, ttl_s, min_containers)

    def close(self) -> None:
        close = getattr(self.p, "close", None)
        if close:
            close()


def _read_claim(job_id: str, claimed: Any) -> Job | None:
    """A job's claimed ending (`end:<id>`), read as a stored job is (a newer version's extra
    fields ignored: `read_stored_job`); None when there is none or this version cannot read it."""
    if claimed is None:
        return None
    try:
        return read_stored_job(claimed)
    except ValidationError as e:
        log.warning("claimed ending unreadable; ours stands", extra={"job_id": job_id, "reason": describe_invalid(e)})
        return None


def _ended(job: Job, status: JobStatus, code: str, message: str, retryable: bool = False) -> Job:
    now = _now()
    error = JobError(code=code, message=message, retryable=retryable)
    return job.model_copy(update={"status": status, "error": error, "finished_at": now, "updated_at": now})


def _refused(what: str, e: Exception) -> CapabilityError:
    """A submit Modal did not take: 413 when it refused the job for its size, else a retryable 503."""
    from modal.exception import RequestSizeError

    if isinstance(e, RequestSizeError):
        return CapabilityError(PAYLOAD_TOO_LARGE, f"{what}: Modal refused it as too large ({e})", http_status=413)
    return CapabilityError(MODAL_UNAVAILABLE, f"{what}: {e}", retryable=True, http_status=503)


def _probe_billed(rec: dict[str, Any], outcome: dict[str, Any]) -> dict[str, float]:
    """{probe object: seconds} from a hand-off's output (an older runner's says none: {})."""
    seconds = billed_seconds(outcome)
    return {rec["object"]: seconds} if seconds is not None and rec.get("object") else {}


def _failure(code: str, message: str, retryable: bool = False) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "retryable": retryable}}
