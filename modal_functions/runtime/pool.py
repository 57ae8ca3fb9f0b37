"""# Warm worker pools: one per kind, each a few long-lived worker processes.

A model, bundle or browser is loaded once per worker and serves many jobs.

- Each pool has `[inhouse.<kind>] workers` slots. A slot is a thread in the server
  that owns one worker process (`process.WorkerProcess`): it spawns it, feeds it jobs
  one at a time, watches it, and respawns it when it dies or is killed.
- A worker loads its heavy state at pool start when `preload = true` or a warm lease
  is live, else lazily on its first job. A worker idle longer than the kind's
  `scaledown_window` with no lease is stopped (a fresh worker is spawned for the next job).
- Admission is bounded: busy + queued < workers + `[inhouse.<kind>] queue`, else
  `CapacityFull` (429 with `retry_after`).
- Every attempt gets a `Watchdog`: silent past `[functions.<kind>] stall_timeout` is
  `stalled`, running past `timeout` is `timeout`; either kills the worker's process
  group (and the pool respawns it). Cancel kills too. The server never dies with a job.
- Retry layering: the pool retries worker crashes and retryable `CapabilityError`s up
  to `[functions.<kind>] retries`. Stalls, timeouts and cancels are final here (the
  caller may start a fresh job with a new key).
- Parts (parts.py): a running job may hand pieces of its work to this pool's idle
  workers. They go to the front of the queue, run like jobs, report to the job's
  worker instead of the hooks, and are cancelled when the job's attempt ends.

The pool knows nothing about job records: it reports through `PoolHooks`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

from ..config import FunctionConfig, PoolConfig
from ..contract.jobs import KindCapacity, Progress
from ..errors import CANCELLED, INTERNAL, INTERRUPTED, STALLED, TIMEOUT, WORKER_CRASHED, describe_crash
from ..logs import get_logger
from .capacity import CapacityFull, retry_after_seconds
from .process import WorkerDied, WorkerProcess
from .tempdirs import TempDirs
from .watchdog import Watchdog

log = get_logger("canvascast.pool")

READY_TIMEOUT_S = 120.0  # importing a capability module (e.g. torch) can be slow
SPAWN_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
LOAD_RETRY_AFTER_S = 30.0
FINAL_CODES = {STALLED, TIMEOUT, CANCELLED, INTERRUPTED}


class _SpawnCancelled(Exception):
    """The job a cold worker was starting for was cancelled before the worker was ready."""


@dataclass(eq=False)
class Ticket:
    """One job (or one part of a job) as the pool sees it; compared by identity."""

    job_id: str
    kind: str
    input: dict[str, Any]
    attempts: int = 0
    seconds: float = 0.0  # worker time across attempts
    part_seconds: float = 0.0  # on a job: its parts' worker time on other workers, every attempt of each (its cost)
    cancel: threading.Event = field(default_factory=threading.Event)
    parent: Ticket | None = None  # set on a part: the job it is a piece of
    notify: Callable[[str, dict[str, Any]], None] | None = None  # a part's updates to its job's worker
    children: list[Ticket] = field(default_factory=list)  # a job's parts in its current attempt


@dataclass
class Outcome:
    status: Literal["succeeded", "failed", "cancelled"]
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # {code, message, retryable}
    cold_start: bool | None = None

    def pool_retryable(self) -> bool:
        """Retried by the pool: crashes and retryable coded errors, never stall/timeout/cancel."""
        if self.status != "failed" or not self.error:
            return False
        code = self.error["code"]
        return code == WORKER_CRASHED or (bool(self.error.get("retryable")) and code not in FINAL_CODES)


class PoolHooks(Protocol):
    def on_start(self, ticket: Ticket) -> None: ...

    def on_progress(self, ticket: Ticket, progress: Progress) -> None: ...

    def on_finish(self, ticket: Ticket, outcome: Outcome) -> None: ...


def _error(code: str, message: str, retryable: bool) -> dict[str, Any]:
    return {"code": code, "message": message, "retryable": retryable}


class Slot:
    def __init__(self, index: int):
        self.index = index
        self.proc: WorkerProcess | None = None
        self.loaded = False
        self.ticket: Ticket | None = None
        self.idle_since = time.monotonic()
        self.load_failed_at: float | None = None
        self.spawn_failures = 0
        self.spawn_retry_at: float | None = None
        self.thread: threading.Thread | None = None


class KindPool:
    def __init__(
        self,
        kind: str,
        pool: PoolConfig,
        function: FunctionConfig,
        hooks: PoolHooks,
        tempdirs: TempDirs,
        init: dict[str, Any],
        *,
        poll_interval: float = 0.05,
        spawn: Callable[[str, dict[str, Any]], WorkerProcess] = WorkerProcess,
    ):
        self.kind = kind
        self.pool = pool
        self.function = function
        self.hooks = hooks
        self.tempdirs = tempdirs
        self.init = init
        self.poll_interval = poll_interval
        self.spawn = spawn
        self.slots = [Slot(i) for i in range(pool.workers)]
        self._cond = threading.Condition()
        self._queue: deque[Ticket] = deque()
        self._busy = 0
        self._warm_until = 0.0
        self._closing = False
        self._durations: deque[float] = deque(maxlen=20)

    # ## Lifecycle

    def start(self) -> None:
        for slot in self.slots:
            slot.thread = threading.Thread(target=self._slot_loop, args=(slot,), name=f"pool-{self.kind}-{slot.index}", daemon=True)
            slot.thread.start()

    def close(self, timeout: float = 10.0) -> list[Ticket]:
        """Stop every worker (killing running jobs); returns the tickets still queued."""
        with self._cond:
            self._closing = True
            left = [t for t in self._queue if t.parent is None]  # parts die with their job
            self._queue.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        for slot in self.slots:  # a slot stuck past the deadline: kill its worker anyway
            if slot.proc is not None:
                slot.proc.kill()
        return left

    # ## Admission

    def check_room(self) -> None:
        """Raise `CapacityFull` unless busy + queued < workers + queue."""
        with self._cond:
            self._check_room_locked()

    def _check_room_locked(self) -> None:
        if self._closing:
            raise CapacityFull(self.kind, 5, f"{self.kind}: pool is shutting down")
        if self._busy + len(self._queue) >= len(self.slots) + self.pool.queue:
            avg = sum(self._durations) / len(self._durations) if self._durations else None
            raise CapacityFull(self.kind, retry_after_seconds(avg, len(self._queue), len(self.slots)))

    def submit(self, ticket: Ticket) -> None:
        """Queue an admitted job (`check_room` passed under the backend's submit lock).

        Only a closing pool refuses here: parts a running job queued since the check take
        room too, and refusing then would answer 429 for a job already recorded under the
        caller's idempotency key."""
        with self._cond:
            if self._closing:
                raise CapacityFull(self.kind, 5, f"{self.kind}: pool is shutting down")
            self._queue.append(ticket)
            self._cond.notify_all()

    def cancel(self, job_id: str) -> Literal["dequeued", "signalled"] | None:
        with self._cond:
            for ticket in self._queue:
                if ticket.job_id == job_id:
                    self._queue.remove(ticket)
                    ticket.cancel.set()
                    return "dequeued"
            for slot in self.slots:
                if slot.ticket is not None and slot.ticket.job_id == job_id:
                    slot.ticket.cancel.set()
                    return "signalled"
        return None

    def warm(self, until_monotonic: float) -> None:
        with self._cond:
            self._warm_until = max(self._warm_until, until_monotonic)
            self._cond.notify_all()

    # ## Parts of a running job

    def idle_workers(self) -> int:
        """Workers with no job and nothing queued for them."""
        with self._cond:
            return max(0, sum(slot.ticket is None for slot in self.slots) - len(self._queue))

    def submit_parts(self, parent: Ticket, notify: Callable[[str, dict[str, Any]], None], specs: list[dict[str, Any]]) -> list[str]:
        """Queue `specs` as parts of `parent`, ahead of waiting jobs (they are work already admitted)."""
        with self._cond:
            base = len(parent.children)
            tickets = [
                Ticket(job_id=f"{parent.job_id}:part-{parent.attempts}-{base + i + 1}", kind=self.kind, input=spec, parent=parent, notify=notify)
                for i, spec in enumerate(specs)
            ]
            parent.children += tickets
            self._queue.extendleft(reversed(tickets))
            self._cond.notify_all()
        log.info("parts queued", extra={"kind": self.kind, "job_id": parent.job_id, "parts": len(tickets)})
        return [t.job_id for t in tickets]

    def take_part(self, parent: Ticket, part_id: str) -> bool:
        """Withdraw a part of `parent` that no worker has started."""
        with self._cond:
            for ticket in self._queue:
                if ticket.job_id == part_id and ticket.parent is parent:
                    self._queue.remove(ticket)
                    return True
        return False

    def _end_parts(self, parent: Ticket) -> None:
        """The job's attempt is over: drop its queued parts and cancel the running ones."""
        with self._cond:
            children, parent.children = parent.children, []
            for child in children:
                if child in self._queue:
                    self._queue.remove(child)
                child.cancel.set()

    def _answer_parts(self, ticket: Ticket, proc: WorkerProcess, message: tuple) -> None:
        _, rid, op, arg = message
        value: Any
        if ticket.parent is not None:
            value = {"error": "a part cannot have parts"}
        elif op == "idle":
            value = self.idle_workers()
        elif op == "submit":
            value = self.submit_parts(ticket, _pusher(proc), list(arg))
        elif op == "take":
            value = self.take_part(ticket, str(arg))
        else:
            value = {"error": f"unknown parts request {op!r}"}
        proc.send(("parts_reply", rid, value))

    def _part_event(self, name: str, ticket: Ticket, *args: Any) -> None:
        assert ticket.notify is not None
        if name == "on_start":
            ticket.notify(ticket.job_id, {"state": "running"})
        elif name == "on_progress":
            progress: Progress = args[0]
            ticket.notify(ticket.job_id, {"done": progress.done, "total": progress.total})
        elif name == "on_finish":
            outcome: Outcome = args[0]
            log.info("part finished", extra={"kind": self.kind, "job_id": ticket.job_id, "status": outcome.status,
                                             "attempts": ticket.attempts, "seconds": round(ticket.seconds, 3)})
            ticket.notify(ticket.job_id, {"state": outcome.status, "result": outcome.result, "error": outcome.error})

    def want_warm(self) -> bool:
        return self.pool.preload or self._warm_until > time.monotonic()

    def capacity(self) -> KindCapacity:
        with self._cond:
            workers, busy, queued = len(self.slots), self._busy, len(self._queue)
        return KindCapacity(
            workers=workers,
            busy=busy,
            queued=queued,
            queue_limit=self.pool.queue,
            free=max(0, workers + self.pool.queue - busy - queued),
            warm=any(slot.loaded for slot in self.slots),
        )

    def workers(self) -> list[dict[str, Any]]:
        """Live worker processes: pid, whether the heavy state is loaded, the job it runs."""
        out = []
        for slot in self.slots:
            proc = slot.proc
            if proc is not None and proc.alive():
                out.append({"slot": slot.index, "pid": proc.pid, "loaded": slot.loaded, "job_id": slot.ticket.job_id if slot.ticket else None})
        return out

    # ## The slot thread

    def _slot_loop(self, slot: Slot) -> None:
        while True:
            try:
                ticket = self._next(slot)
                if ticket is None:
                    if self._closing:
                        break
                    self._maintain(slot)
                    continue
                try:
                    outcome = self._serve(slot, ticket)
                except Exception as e:  # noqa: BLE001 - a pool bug fails the job, never strands it
                    log.exception("pool failed a job", extra={"kind": self.kind, "job_id": ticket.job_id})
                    self._discard(slot)
                    outcome = Outcome("failed", error=_error(INTERNAL, f"runtime error: {describe_crash(e)}", True))
                finally:
                    with self._cond:
                        self._busy -= 1
                        slot.ticket = None
                        slot.idle_since = time.monotonic()
                        self._cond.notify_all()
                self._hook("on_finish", ticket, outcome)  # after the slot is free: capacity is exact
            except Exception:  # noqa: BLE001 - a pool bug must not take the server down
                log.exception("pool slot error", extra={"kind": self.kind, "slot": slot.index})
                self._discard(slot)
                with self._cond:
                    self._cond.wait(1.0)
            if self._closing:
                break
        proc, slot.proc, slot.loaded = slot.proc, None, False
        if proc is not None:
            proc.stop(grace=2.0)

    def _next(self, slot: Slot) -> Ticket | None:
        """Wait for a job (or for maintenance to do); claim it."""
        with self._cond:
            while not self._closing and not self._queue:
                if self._needs_maintenance(slot):
                    return None
                self._cond.wait(0.5)
            if self._closing:
                return None
            ticket = self._queue.popleft()
            self._busy += 1
            slot.ticket = ticket
            return ticket

    def _needs_maintenance(self, slot: Slot) -> bool:
        """Idle work: reap a dead worker, (re)spawn and load when warm, scale down when not."""
        now = time.monotonic()
        alive = slot.proc is not None and slot.proc.alive()
        if slot.proc is not None and not alive:
            return True
        if self.want_warm():
            if slot.spawn_retry_at is not None and now < slot.spawn_retry_at:
                return False  # spawning failed: back off
            if slot.load_failed_at is not None and now - slot.load_failed_at <= LOAD_RETRY_AFTER_S:
                return False  # loading failed: jobs still load lazily, warm-up retries later
            return not alive or not slot.loaded
        return alive and now - slot.idle_since > self.function.scaledown_window

    def _maintain(self, slot: Slot) -> None:
        if slot.proc is not None and not slot.proc.alive():
            log.warning("worker died while idle", extra={"kind": self.kind, "pid": slot.proc.pid})
            self._discard(slot)
        if self.want_warm():
            if slot.proc is None and not self._spawn_into(slot):
                return
            if slot.proc is not None and not slot.loaded:
                self._load(slot)
        elif slot.proc is not None and time.monotonic() - slot.idle_since > self.function.scaledown_window:
            log.info("scaling down idle worker", extra={"kind": self.kind, "pid": slot.proc.pid})
            proc, slot.proc, slot.loaded = slot.proc, None, False
            proc.stop()

    def _spawn_into(self, slot: Slot) -> bool:
        """Give the slot a fresh worker; on failure schedule a retry with backoff."""
        self._discard(slot)
        try:
            slot.proc = self._spawn()
        except Exception as e:  # noqa: BLE001
            if self._closing:  # the pool stopped waiting for it: a clean shutdown, not an error to alert on
                log.info("worker start abandoned: pool closing", extra={"kind": self.kind})
                return False
            delay = SPAWN_BACKOFF_S[min(slot.spawn_failures, len(SPAWN_BACKOFF_S) - 1)]
            slot.spawn_failures += 1
            slot.spawn_retry_at = time.monotonic() + delay
            log.error("worker failed to start", extra={"kind": self.kind, "error": str(e), "retry_in_s": delay})
            return False
        slot.spawn_failures = 0
        slot.spawn_retry_at = None
        slot.idle_since = time.monotonic()
        return True

    def _spawn(self, cancel: threading.Event | None = None) -> WorkerProcess:
        """A started worker; `cancel` (the job waiting for it) stops the wait, as closing does."""
        proc = self.spawn(self.kind, self.init)
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not proc.poll(self.poll_interval):
                if self._closing:
                    raise WorkerDied(f"worker {proc.pid}: pool closing")
                if cancel is not None and cancel.is_set():
                    raise _SpawnCancelled()
                if time.monotonic() > deadline:
                    raise WorkerDied(f"worker {proc.pid} not ready after {READY_TIMEOUT_S:g} s")
            message = proc.recv()
            if message[0] != "ready":
                raise WorkerDied(f"worker {proc.pid} said {message[0]!r} instead of ready")
        except BaseException:
            proc.kill()
            raise
        log.info("worker started", extra={"kind": self.kind, "pid": proc.pid})
        return proc

    def _discard(self, slot: Slot) -> None:
        proc, slot.proc, slot.loaded = slot.proc, None, False
        if proc is not None:
            proc.kill()

    def _load(self, slot: Slot) -> None:
        """Preload the heavy state (pool start with preload, or a warm lease)."""
        assert slot.proc is not None
        watchdog = Watchdog(stall_timeout=self.function.stall_timeout, timeout=self.function.timeout)
        try:
            slot.proc.send(("load",))
            while not self._closing:
                if slot.proc.poll(self.poll_interval):
                    message = slot.proc.recv()
                    watchdog.beat()
                    if message[0] == "loaded":
                        slot.loaded = True
                        slot.load_failed_at = None
                        log.info("worker warm", extra={"kind": self.kind, "pid": slot.proc.pid})
                        return
                    if message[0] == "load_failed":
                        slot.load_failed_at = time.monotonic()
                        log.error("heavy state failed to load", extra={"kind": self.kind, "code": message[1]["code"], "error": message[1]["message"]})
                        return
                verdict = watchdog.check()
                if verdict is not None:
                    slot.load_failed_at = time.monotonic()
                    log.error("heavy state load killed", extra={"kind": self.kind, "verdict": verdict})
                    self._discard(slot)
                    return
            self._discard(slot)  # closing mid-load
        except WorkerDied as e:
            log.error("worker died while loading", extra={"kind": self.kind, "error": str(e)})
            slot.load_failed_at = time.monotonic()
            self._discard(slot)

    def _serve(self, slot: Slot, ticket: Ticket) -> Outcome:
        outcome: Outcome
        while True:
            if ticket.cancel.is_set():
                outcome = Outcome("cancelled", error=_error(CANCELLED, "cancelled by request", False))
                break
            if self._closing:
                outcome = Outcome("failed", error=_error(INTERRUPTED, "the server shut down while this job ran", True))
                break
            ticket.attempts += 1
            self._hook("on_start", ticket)
            outcome = self._attempt(slot, ticket)
            # A part is not retried here: the job that fanned it out reruns it itself (parts.py),
            # so a piece runs at most twice, in-house as on Modal.
            retries = 0 if ticket.parent is not None else self.function.retries
            # A retry the job was still due: the loop's top ends it `cancelled` if a cancel came meanwhile.
            if outcome.pool_retryable() and ticket.attempts <= retries and not self._closing:
                err = outcome.error or {}
                log.info("retrying job", extra={"job_id": ticket.job_id, "kind": self.kind, "attempt": ticket.attempts,
                                                "code": err.get("code"), "error": err.get("message")})
                continue
            break
        if outcome.status == "succeeded" and ticket.parent is None:
            self._durations.append(ticket.seconds)
        return outcome

    def _attempt(self, slot: Slot, ticket: Ticket) -> Outcome:
        workdir = self.tempdirs.create(ticket.job_id, ticket.attempts)
        started = time.monotonic()
        cold: bool | None = None
        try:
            if slot.proc is None or not slot.proc.alive():
                self._discard(slot)
                try:
                    slot.proc = self._spawn(ticket.cancel)
                except _SpawnCancelled:
                    return Outcome("cancelled", error=_error(CANCELLED, "cancelled by request", False), cold_start=True)
                except WorkerDied:
                    raise
                except Exception as e:  # noqa: BLE001 - e.g. the capability module fails to import
                    raise WorkerDied(f"worker failed to start: {e}") from e
            proc = slot.proc
            watchdog = Watchdog(stall_timeout=self.function.stall_timeout, timeout=self.function.timeout)
            op = "run" if ticket.parent is None else "part"
            proc.send((op, ticket.job_id, ticket.attempts, ticket.input, str(workdir)))
            while True:
                if ticket.cancel.is_set():
                    self._discard(slot)
                    return Outcome("cancelled", error=_error(CANCELLED, "cancelled by request", False), cold_start=cold)
                if self._closing:
                    self._discard(slot)
                    return Outcome("failed", error=_error(INTERRUPTED, "the server shut down while this job ran", True), cold_start=cold)
                if proc.poll(self.poll_interval):
                    message = proc.recv()
                    op = message[0]
                    watchdog.beat()
                    if op == "progress":
                        self._hook("on_progress", ticket, Progress.model_validate(message[1]))
                    elif op == "parts":
                        self._answer_parts(ticket, proc, message)
                    elif op == "done":
                        _, result, cold, slot.loaded = message
                        return Outcome("succeeded", result=result, cold_start=cold)
                    elif op == "error":
                        _, error, cold, slot.loaded = message
                        return Outcome("failed", error=error, cold_start=cold)
                    # "hb" and anything else: just a sign of life. The check below runs after
                    # messages too: a worker chatting faster than poll_interval is still timed out.
                verdict = watchdog.check()
                if verdict is not None:
                    log.warning("killing job", extra={"job_id": ticket.job_id, "kind": self.kind, "verdict": verdict, "pid": proc.pid})
                    self._discard(slot)
                    err = watchdog.error(verdict)
                    return Outcome("failed", error=_error(err.code, err.message, err.retryable), cold_start=cold)
        except WorkerDied as e:
            self._discard(slot)
            if self._closing:  # the pool stopped its worker (or the wait for one): not a crash
                return Outcome("failed", error=_error(INTERRUPTED, "the server shut down while this job ran", True), cold_start=cold)
            return Outcome("failed", error=_error(WORKER_CRASHED, f"the worker process died: {e}", True), cold_start=cold)
        finally:
            elapsed = time.monotonic() - started
            ticket.seconds += elapsed
            if ticket.parent is not None:  # the job's cost counts it, failed or not; added before its job hears it ended
                with self._cond:
                    ticket.parent.part_seconds += elapsed
            self._end_parts(ticket)
            self.tempdirs.remove(workdir)

    def _hook(self, name: str, ticket: Ticket, *args: Any) -> None:
        try:
            if ticket.parent is not None:
                self._part_event(name, ticket, *args)
            else:
                getattr(self.hooks, name)(ticket, *args)
        except Exception:  # noqa: BLE001
            log.exception("pool hook failed", extra={"hook": name, "kind": self.kind})


def _pusher(proc: WorkerProcess) -> Callable[[str, dict[str, Any]], None]:
    """Sends part updates to a job's worker; a worker that is gone has nobody to tell."""

    def push(part_id: str, update: dict[str, Any]) -> None:
        try:
            proc.send(("part_update", part_id, update))
        except WorkerDied:
            pass

    return push
