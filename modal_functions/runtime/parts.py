"""# Parts: one job's pieces run on the idle workers of its own pool

A job whose work splits (a render's frame chunks) hands pieces of it to the idle
workers of the same in-house pool, so one long job uses the pool's free capacity.
It is the in-house twin of Modal's chunk fan-out (one `render_chunk` call per chunk).

- Worker side: `PartsClient` is `ctx.parts` in a pool worker (None elsewhere: the CLI,
  and Modal, which spawns one call per chunk). `fan_out()` is the one way to use it.
- Pool side: `KindPool` puts parts at the FRONT of its queue (`submit_parts`), runs
  them on its workers like jobs (same watchdog, but no retries of their own), and
  pushes their state to the job's worker. When the job's attempt ends, on any path, its
  parts still queued or running are cancelled.

No deadlock by construction: a part still queued when the job is ready for it is
taken back (`take`) and run by the job itself, so a job only ever waits for parts
that another worker is running. A piece runs at most twice, as on Modal
(`modal_layer/fanout.py`): a part that failed on another worker is run once more by the
job, alone; a piece the job runs itself is retried once there.

Messages on the worker's pipe (pickled tuples, see worker_main):

    worker -> pool   ("parts", req_id, "idle" | "submit" | "take", arg)
    pool -> worker   ("parts_reply", req_id, value)
                     ("part_update", part_id, {"state"?, "done"?, "total"?, "result"?, "error"?})
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable

from ..errors import INTERNAL, CapabilityError
from ..logs import get_logger
from .progress import InOrder

log = get_logger("canvascast.parts")

REPLY_TIMEOUT_S = 30.0
LOCAL_RETRIES = 1  # a piece first run here is retried once here; a part that failed elsewhere runs here once


@dataclass
class PartStatus:
    state: str = "queued"  # queued | running | succeeded | failed | cancelled
    done: float = 0.0
    total: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class PartsClient:
    """A running job's handle on its pool: how many workers are idle, submit parts, take one back.

    `deliver()` is called by the worker's pipe reader with every `parts_reply` and
    `part_update`; `close()` when the pipe breaks. Thread-safe.
    """

    def __init__(self, send: Callable[[tuple], None], *, reply_timeout: float = REPLY_TIMEOUT_S):
        self._send = send
        self._reply_timeout = reply_timeout
        self._cond = threading.Condition()
        self._replies: dict[int, Any] = {}
        self._ids = itertools.count(1)
        self._status: dict[str, PartStatus] = {}
        self._closed = False
        self._version = 0
        self._listener: Callable[[str, PartStatus], None] | None = None
        self._calling = threading.Lock()  # held while the listener runs, and to swap it

    def reset(self) -> None:
        """A new job starts on this worker: forget the previous job's parts."""
        with self._cond:
            self._status.clear()
            self._replies.clear()
        self.listen(None)

    # ## Pipe side

    def deliver(self, message: tuple) -> None:
        update = None
        with self._cond:
            if message[0] == "parts_reply":
                self._replies[message[1]] = message[2]
            elif message[0] == "part_update":
                status = self._status.setdefault(message[1], PartStatus())
                for key, value in message[2].items():
                    setattr(status, key, value)
                update = (message[1], replace(status))
            self._version += 1
            self._cond.notify_all()
        if update is not None:
            with self._calling:  # so listen() can wait out a call in progress
                if self._listener is not None:
                    self._listener(*update)

    def listen(self, listener: Callable[[str, PartStatus], None] | None) -> None:
        """Call `listener(part_id, status)` on every part update (from the pipe reader thread).

        When it returns, no call to the previous listener is still running: after
        `listen(None)` a finished job can no longer send progress into the next one."""
        with self._calling:
            self._listener = listener

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _call(self, op: str, arg: Any = None) -> Any:
        rid = next(self._ids)
        self._send(("parts", rid, op, arg))
        with self._cond:
            if not self._cond.wait_for(lambda: rid in self._replies or self._closed, self._reply_timeout):
                raise CapabilityError(INTERNAL, f"the pool did not answer {op!r} within {self._reply_timeout:g} s", retryable=True)
            if rid not in self._replies:
                raise CapabilityError(INTERNAL, "the pool went away", retryable=True)
            value = self._replies.pop(rid)
        if isinstance(value, dict) and "error" in value:
            raise CapabilityError(INTERNAL, f"the pool refused {op!r}: {value['error']}", retryable=False)
        return value

    # ## Job side

    def idle(self) -> int:
        """Workers of this pool idle right now (with nothing queued for them)."""
        return int(self._call("idle"))

    def submit(self, specs: list[dict[str, Any]]) -> list[str]:
        """Queue `specs` as parts (ahead of waiting jobs); returns their ids, in order."""
        ids = list(self._call("submit", specs))
        with self._cond:
            for part_id in ids:
                self._status.setdefault(part_id, PartStatus())
        return ids

    def take(self, part_id: str) -> bool:
        """Withdraw a part no worker has started; True when it is now ours to run."""
        taken = bool(self._call("take", part_id))
        if taken:
            with self._cond:
                self._status[part_id].state = "taken"
        return taken

    def status(self, part_id: str) -> PartStatus:
        with self._cond:
            return replace(self._status.get(part_id, PartStatus()))

    def wait(self, timeout: float) -> None:
        """Return when any part changes (or after `timeout` seconds)."""
        with self._cond:
            seen = self._version
            self._cond.wait_for(lambda: self._version != seen or self._closed, timeout)


RunHere = Callable[[int, dict[str, Any], Callable[[float], None]], dict[str, Any]]


def fan_out(
    parts: PartsClient | None,
    specs: list[dict[str, Any]],
    run_here: RunHere,
    *,
    on_progress: Callable[[float], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
    every: float = 1.0,
) -> list[dict[str, Any]]:
    """Run `specs[0]` here and `specs[1:]` as parts on idle pool workers; results in spec order.

    `run_here(index, spec, report)` runs one piece in this process and calls
    `report(done)` as it goes; `on_progress(total_done)` gets the sum over all pieces.
    Parts nobody started by the time we get to them, and parts that failed, run here.
    Without a pool (`parts` None) every piece runs here, in order.

    The total never steps back: a piece counts with the most it has reached on any run,
    so a retry (which counts up from zero again) adds nothing until it passes that.
    """
    done: dict[int, float] = {}
    lock = threading.Lock()
    ordered = InOrder(on_progress) if on_progress is not None else None  # the job's thread and the pipe reader both report

    def report(index: int, value: float) -> None:
        with lock:
            done[index] = max(done.get(index, 0.0), value)  # a retry below its high-water mark keeps it
            total = sum(done.values())
            number = ordered.number() if ordered is not None else 0
        if ordered is not None:
            ordered.put(number, total)

    def here(index: int, retries: int = LOCAL_RETRIES) -> dict[str, Any]:
        for attempt in range(retries + 1):
            try:
                return run_here(index, specs[index], lambda value: report(index, value))
            except CapabilityError as e:
                if attempt >= retries:
                    raise
                log.warning("piece failed; retrying it alone", extra={"piece": index, "code": e.code, "error": e.message})
        raise AssertionError("unreachable")

    if parts is None or len(specs) <= 1:
        return [here(i) for i in range(len(specs))]

    index_of: dict[str, int] = {}

    def on_update(part_id: str, status: PartStatus) -> None:
        if status.state in ("running", "succeeded") and part_id in index_of:
            report(index_of[part_id], status.done)

    parts.listen(on_update)
    try:
        ids = parts.submit(specs[1:])
        index_of.update({part_id: i + 1 for i, part_id in enumerate(ids)})
        results: dict[int, dict[str, Any]] = {0: here(0)}
        _gather(parts, ids, index_of, results, here, report, heartbeat, every)
    finally:
        parts.listen(None)
    return [results[i] for i in range(len(specs))]


def _gather(
    parts: PartsClient,
    ids: list[str],
    index_of: dict[str, int],
    results: dict[int, dict[str, Any]],
    here: Callable[..., dict[str, Any]],
    report: Callable[[int, float], None],
    heartbeat: Callable[[], None] | None,
    every: float,
) -> None:
    """Collect every part: finished elsewhere, taken back if nobody started it, rerun here if it failed."""
    pending = list(ids)
    while pending:
        for part_id in list(pending):
            i = index_of[part_id]
            status = parts.status(part_id)
            if status.state == "succeeded" and status.result is not None:
                report(i, status.done)  # in case its updates came before its id was known (index_of)
                results[i] = status.result
            elif status.state in ("failed", "cancelled"):
                err = status.error or {}
                log.warning("part failed on another worker; running it here", extra={"part": part_id, "code": err.get("code"), "error": err.get("message")})
                results[i] = here(i, retries=0)  # its second and last run
            elif status.state == "queued" and parts.take(part_id):
                results[i] = here(i)
            else:
                continue  # running elsewhere: wait for it
            pending.remove(part_id)
        if pending:
            parts.wait(every)
            if heartbeat is not None:
                heartbeat()


__all__ = ["PartsClient", "PartStatus", "fan_out"]
