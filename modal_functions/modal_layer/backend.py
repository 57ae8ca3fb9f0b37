"""# `JobBackend` on Modal: spawn, poll a FunctionCall, keep the record in a `modal.Dict`

The HTTP API (running in the app's ASGI container) serves the same contract as
in-house; only this backend differs:

- **submit**: validate, pick the Modal object by job size (Whisper on the GPU class only
  for audio at least `gpu_min_audio_seconds` long), `.spawn({"job_id", "kind", "input"})`,
  then store the job record (with the call id) and the idempotency index in the jobs Dict;
- **poll**: `FunctionCall.from_id(id).get(timeout=0)`. A running call raises the builtin
  `TimeoutError`; an expired output raises `OutputExpiredError` -> failed `output_expired`;
  Modal's hard timeout (`FunctionTimeoutError`) -> failed `timeout`; a crashed container
  (`InternalFailure`) -> failed `worker_crashed`; a call the platform terminated (app
  stopped, `RemoteError`) -> failed `interrupted`. A terminal job is written back to the
  Dict, so later polls never depend on Modal still holding the output;
- **cancel**: the record becomes `cancelled` first, then `FunctionCall.cancel()`;
- **find_by_idempotency_key**: the job the idempotency index points at, observed like a
  poll; None when the index has no entry (never used, undone after a failed spawn, or
  expired by Modal: Dict entries are not kept forever, and then a submit with the key
  makes a new job) or its record is gone;
- **progress**: what `runner.execute` writes through `runtime.progress.MappingSink`;
- **admission**: at most `max_containers` jobs of a kind in flight (an `active` Dict,
  swept by polling), else 429 `capacity` with `retry_after`;
- **warm**: a lease (see `leases.py`).

Primitives (Dicts, functions, FunctionCall lookup, autoscaler) are injected: the real
`primitives.ModalPrimitives`, or `fake_primitives.FakePrimitives` in tests.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from ..config import ComputeConfig
from ..contract.jobs import Cost, Job, JobError, JobStatus, KindCapacity, Progress, WarmLease
from ..errors import (
    CANCELLED,
    IDEMPOTENCY_CONFLICT,
    INTERNAL,
    INTERRUPTED,
    NOT_FOUND,
    OUTPUT_EXPIRED,
    TIMEOUT,
    VALIDATION_ERROR,
    WORKER_CRASHED,
    CapabilityError,
    describe_crash,
)
from ..runtime.capacity import CapacityFull
from ..runtime.progress import read_mapping
from .leases import LeaseBook
from .primitives import Primitives
from .runner import progress_key, run_key
from .settings_from_toml import MODAL_OBJECTS, object_kwargs


def job_key(job_id: str) -> str:
    return f"job:{job_id}"


def idem_key(key: str) -> str:
    return f"idem:{key}"


def active_key(kind: str, job_id: str) -> str:
    return f"{kind}:{job_id}"


RETRY_AFTER_S = 5


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _fingerprint(kind: str, input: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([kind, input], sort_keys=True, default=str).encode()).hexdigest()


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
        self.leases = LeaseBook(config, primitives.leases, primitives.autoscaler, clock=clock)

    # ## Records

    def _load(self, job_id: str) -> dict[str, Any]:
        rec = self.p.jobs.get(job_key(job_id))
        if rec is None:
            raise CapabilityError(NOT_FOUND, f"no job {job_id}", http_status=404)
        return rec

    def _save(self, rec: dict[str, Any], job: Job) -> None:
        rec = {**rec, "job": job.model_dump(mode="json")}
        self.p.jobs[job_key(job.id)] = rec
        if job.status.terminal:
            self.p.active.pop(active_key(job.kind, job.id), None)

    # ## Admission: a kind takes at most `max_containers` jobs in flight

    def _in_flight(self, kind: str) -> list[str]:
        prefix = f"{kind}:"
        return [str(k)[len(prefix):] for k in list(self.p.active.keys()) if str(k).startswith(prefix)]

    def sweep(self, kind: str | None = None) -> int:
        """Poll every in-flight job (of `kind`), so finished ones leave the active set. Returns how many remain."""
        remaining = 0
        for k in [kind] if kind else [k for k in MODAL_OBJECTS if k != "api"]:
            for job_id in self._in_flight(k):
                rec = self.p.jobs.get(job_key(job_id))
                if rec is None:
                    self.p.active.pop(active_key(k, job_id), None)
                elif not self._observe(rec, 0).status.terminal:
                    remaining += 1
        return remaining

    def _admit(self, kind: str) -> None:
        """429 `capacity` when the kind already has `max_containers` jobs in flight.

        Beyond that Modal would only queue them behind each other; the worker's scheduler
        is better placed to wait, retry later or run the job in-house.
        """
        cap = self.config.function(kind).max_containers
        if len(self._in_flight(kind)) < cap:
            return
        if self.sweep(kind) < cap:
            return
        raise CapacityFull(kind, RETRY_AFTER_S, f"{kind}: {cap} jobs already in flight on Modal (max_containers)")

    # ## Submit

    def submit(self, kind: str, input: dict[str, Any], idempotency_key: str | None = None) -> Job:
        from ..capabilities import get_capability

        capability = get_capability(kind)  # unknown_kind (400)
        try:
            request = capability.request_model.model_validate(input)
        except Exception as e:  # pydantic ValidationError
            raise CapabilityError(VALIDATION_ERROR, str(e)[:2000], http_status=422) from e
        if capability.validate is not None:
            capability.validate(request)
        if capability.refs is not None:
            from ..storage.inputs import precheck_request

            precheck_request(capability.refs(request))

        if idempotency_key is not None:
            existing = self.p.jobs.get(idem_key(idempotency_key))
            if existing is not None:
                return self._replay(existing, kind, input, idempotency_key)
        self._admit(kind)

        object_name, sized = choose_object(self.config, kind, request)
        now = _now()
        job_id = uuid.uuid4().hex
        job = Job.queued(job_id, kind, input, idempotency_key, "modal", now)
        # The record exists before the idempotency claim and the spawn, so whoever finds
        # the index or polls right after submit always finds the job.
        rec = {"job": job.model_dump(mode="json"), "call_id": None, "object": object_name}
        self.p.jobs[job_key(job_id)] = rec
        if idempotency_key is not None:
            fingerprint = _fingerprint(kind, input)
            claimed = self.p.jobs.put(idem_key(idempotency_key), {"job_id": job_id, "fingerprint": fingerprint}, skip_if_exists=True)
            if not claimed:  # a concurrent submit with the same key won
                self.p.jobs.pop(job_key(job_id), None)
                return self._replay(self.p.jobs.get(idem_key(idempotency_key)) or {}, kind, input, idempotency_key)
        self.p.active[active_key(kind, job_id)] = now.timestamp()
        try:
            call = self.p.function(object_name).spawn({"job_id": job_id, "kind": kind, "input": input, "sized": sized})
        except Exception as e:
            self.p.jobs.pop(job_key(job_id), None)
            self.p.active.pop(active_key(kind, job_id), None)
            if idempotency_key is not None:
                self.p.jobs.pop(idem_key(idempotency_key), None)
            raise CapabilityError("modal_unavailable", f"could not spawn on Modal: {e}", retryable=True, http_status=503) from e
        rec["call_id"] = call.object_id
        self.p.jobs[job_key(job_id)] = rec
        return job

    def _replay(self, existing: dict[str, Any], kind: str, input: dict[str, Any], key: str) -> Job:
        if existing.get("fingerprint") != _fingerprint(kind, input):
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

    def _observe(self, rec: dict[str, Any], timeout: float) -> Job:
        job = Job.model_validate(rec["job"])
        if job.status.terminal:
            return job
        update = self._seen(job)
        if rec.get("call_id") is None:
            return job.model_copy(update=update)
        outcome = self._get(rec["call_id"], timeout)
        if outcome is None:
            return job.model_copy(update=update)
        if outcome.get("handoff"):
            return self._hand_off(rec, job, outcome["handoff"])
        update = self._seen(job)  # the body's last word, written before its output
        finished = self._finish(job.model_copy(update=update), rec, outcome)
        latest = self.p.jobs.get(job_key(job.id)) or rec
        if Job.model_validate(latest["job"]).status.terminal:  # e.g. cancelled meanwhile
            return Job.model_validate(latest["job"])
        self._save(rec, finished)
        return finished

    def _get(self, call_id: str, timeout: float) -> dict[str, Any] | None:
        """The call's output as an outcome dict, or None while it runs."""
        from modal.exception import FunctionTimeoutError, InternalFailure, OutputExpiredError, RemoteError

        try:
            return self.p.function_call(call_id).get(timeout=timeout)
        except OutputExpiredError:
            return _failure(OUTPUT_EXPIRED, "Modal no longer holds this job's output (result retention expired)", retryable=True)
        except FunctionTimeoutError as e:
            return _failure(TIMEOUT, f"Modal stopped the job at its hard timeout: {e}", retryable=True)
        except TimeoutError:  # builtin: still running
            return None
        except InternalFailure as e:
            return _failure(WORKER_CRASHED, f"the Modal container failed: {e}", retryable=True)
        except RemoteError as e:  # terminated by the platform (app stopped, redeployed over it)
            return _failure(INTERRUPTED, f"Modal terminated the call before it finished: {e}", retryable=True)
        except CapabilityError as e:
            return {"ok": False, "error": e.to_error().model_dump(mode="json")}
        except Exception as e:  # noqa: BLE001 - any remote exception is a coded failure
            return _failure(INTERNAL, describe_crash(e))

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
            gpu, cpu = _resource(self.config, rec["object"])
            seconds = float(out.get("seconds") or 0.0)
            update.update(
                status=JobStatus.succeeded,
                result=out["result"],
                progress=job.progress if job.progress.total is None else job.progress.model_copy(update={"done": job.progress.total}),
                cost=Cost(
                    resource=out.get("resource") or (gpu or f"cpu:{cpu:g}"),
                    seconds=seconds,
                    usd=self.config.usd(job.kind, seconds, backend="modal", gpu=gpu or "", cpu=cpu),
                ),
            )
        else:
            update.update(status=JobStatus.failed, error=JobError.model_validate(out["error"]))
        if job.started_at is not None:
            update["queue_seconds"] = round((job.started_at - job.created_at).total_seconds(), 3)
        return job.model_copy(update=update)

    def _hand_off(self, rec: dict[str, Any], job: Job, object_name: str) -> Job:
        """The job measured itself and belongs on `object_name`: spawn it there, same record."""
        latest = self.p.jobs.get(job_key(job.id)) or rec
        if latest.get("call_id") != rec.get("call_id") or Job.model_validate(latest["job"]).status.terminal:
            return self._observe(latest, 0)  # someone else handed it off (or cancelled it) already
        call = self.p.function(object_name).spawn({"job_id": job.id, "kind": job.kind, "input": job.input, "sized": True})
        self.p.jobs[job_key(job.id)] = {**latest, "call_id": call.object_id, "object": object_name, "handed_off_from": latest.get("object")}
        return job

    def poll(self, job_id: str) -> Job:
        return self._observe(self._load(job_id), 0)

    def find_by_idempotency_key(self, key: str) -> Job | None:
        """What `submit` with this key would answer (a replay), read without submitting; None if it would create a job."""
        entry = self.p.jobs.get(idem_key(key))
        if entry is None:
            return None
        rec = self.p.jobs.get(job_key(entry["job_id"]))
        if rec is None:  # the index outlived its record (or a racing submit is undoing its claim)
            return None
        return self._observe(rec, 0)

    # ## Cancel

    def cancel(self, job_id: str) -> Job:
        rec = self._load(job_id)
        job = Job.model_validate(rec["job"])
        if job.status.terminal:
            return job
        now = _now()
        job = job.model_copy(
            update={
                "status": JobStatus.cancelled,
                "error": JobError(code=CANCELLED, message="cancelled by request"),
                "finished_at": now,
                "updated_at": now,
            }
        )
        self._save(rec, job)
        if rec.get("call_id"):
            try:
                self.p.function_call(rec["call_id"]).cancel(terminate_containers=True)
            except Exception:  # noqa: BLE001 - the record already says cancelled
                pass
        return job

    # ## Progress, wait, events

    def progress(self, job_id: str) -> Progress:
        job = Job.model_validate(self._load(job_id)["job"])
        if job.status.terminal:
            return job.progress
        return read_mapping(self.p.jobs, progress_key(job_id))[0]

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
            job = self._observe(self._load(job_id), max(0.0, min(0.25, remaining)))
            seen = (job.status, job.progress, job.attempts)
            if seen != last:
                last = seen
                yield job
            if job.status.terminal or remaining <= 0:
                return

    # ## Capacity and warm leases

    def capacity(self) -> dict[str, KindCapacity]:
        """Modal queues beyond `max_containers` itself: `free` is containers not busy with our jobs."""
        minimums = self.leases.desired()
        out = {}
        for kind in self.config.functions:
            if kind == "api":
                continue
            fn = self.config.function(kind)
            busy = len(self._in_flight(kind))
            warm = any(minimums.get(name, 0) > 0 for name in MODAL_OBJECTS[kind])
            out[kind] = KindCapacity(
                workers=fn.max_containers, busy=busy, queued=0, queue_limit=0, free=max(0, fn.max_containers - busy), warm=warm
            )
        return out

    def warm(self, kinds: list[str], ttl_s: int, min_containers: int | None = None) -> WarmLease:
        return self.leases.grant(kinds, ttl_s, min_containers)

    def close(self) -> None:
        close = getattr(self.p, "close", None)
        if close:
            close()


def _failure(code: str, message: str, retryable: bool = False) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "retryable": retryable}}
