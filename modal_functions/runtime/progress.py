"""# Progress and heartbeats: from a task to whoever watches it.

A task calls `ctx.progress(...)` and `ctx.heartbeat()` (see capability.TaskContext).
Both go through a `Reporter`, which

- beats the local `Watchdog` (if any) on every call, so a supervised body is never
  judged silent while it is talking;
- throttles what reaches the `ProgressSink`: heartbeats at most every `min_interval`
  seconds, progress at most every `min_interval` unless it is the final step.

Values made by several threads at once (a fan-out reports from the job's thread and from
the pipe reader) reach the sink in the order they were made (`InOrder`): an older value never
arrives after a newer one, and no reporting thread waits for another one's send.

Sinks are tiny: `PipeSink` (in-house worker -> parent process), `MappingSink` (any
`dict`-like, e.g. a `modal.Dict` keyed by job id), `CallbackSink` (CLI progress bar, tests).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable, Generic, MutableMapping, Protocol, TypeVar

from ..contract.jobs import Progress
from ..errors import describe_crash
from ..logs import get_logger
from .watchdog import Watchdog

log = get_logger(__name__)


T = TypeVar("T")


class InOrder(Generic[T]):
    """Hands values to `deliver` in the order they were numbered, skipping any a newer one superseded.

    A producer takes `number()` while it holds the lock that orders its values, and calls
    `put(number, value)` after releasing it. A thread already delivering delivers what is put
    meanwhile (the newest only) before it returns, so `put` never waits for another thread's
    `deliver`, and a value is never delivered after a newer one.
    """

    def __init__(self, deliver: Callable[[T], Any]):
        self._deliver = deliver
        self._lock = threading.Condition()
        self._numbers = itertools.count(1)
        self._latest: tuple[int, T | None] = (0, None)
        self._delivered = 0
        self._sending = False

    def number(self) -> int:
        with self._lock:
            return next(self._numbers)

    def put(self, number: int, value: T) -> None:
        with self._lock:
            if number <= self._latest[0]:
                return  # a newer value was put already
            self._latest = (number, value)
            if self._sending:
                return  # the delivering thread takes it next
            self._sending = True
        try:
            while True:
                with self._lock:
                    number, value = self._latest
                    if number <= self._delivered:
                        self._sending = False
                        self._lock.notify_all()
                        return
                    self._delivered = number
                self._deliver(value)  # type: ignore[arg-type]
        except BaseException:
            with self._lock:
                self._sending = False
                self._lock.notify_all()
            raise

    def settle(self, timeout: float | None = None) -> None:
        """Return once what was put has been delivered (another thread may still be delivering it)."""
        with self._lock:
            self._lock.wait_for(lambda: not self._sending, timeout)


class ProgressSink(Protocol):
    def heartbeat(self) -> None: ...

    def progress(self, progress: Progress) -> None: ...


class Reporter:
    """What `TaskContext.progress/heartbeat` call. Thread-safe; cheap to call in a tight loop."""

    def __init__(
        self,
        sink: ProgressSink,
        *,
        watchdog: Watchdog | None = None,
        min_interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.sink = sink
        self.watchdog = watchdog
        self.min_interval = min_interval
        self.clock = clock
        self.last = Progress()
        self._last_sent = float("-inf")
        self._pending = False  # a throttled progress update not yet sent
        self._lock = threading.Lock()
        self._ordered: InOrder[Progress] = InOrder(lambda progress: self.sink.progress(progress))

    def heartbeat(self) -> None:
        if self.watchdog is not None:
            self.watchdog.beat()
        now = self.clock()
        with self._lock:
            if now - self._last_sent < self.min_interval:
                return
            self._last_sent = now
            pending, self._pending = self._pending, False
            last = self.last
            number = self._ordered.number() if pending else 0
        if pending:
            self._ordered.put(number, last)  # carries the heartbeat too
        else:
            self.sink.heartbeat()

    def flush(self) -> None:
        """Send a progress update that throttling held back, and wait for any still on its way (call when the body returns)."""
        with self._lock:
            pending, self._pending = self._pending, False
            last = self.last
            if pending:
                self._last_sent = self.clock()
                number = self._ordered.number()
        if pending:
            self._ordered.put(number, last)
        self._ordered.settle()  # what another thread is still sending goes out before the caller's next message

    def settle(self) -> None:
        """Wait until progress another thread is still sending has gone out (see `InOrder`)."""
        self._ordered.settle()

    def progress(self, done: float, total: float | None = None, unit: str | None = None, message: str | None = None) -> None:
        if self.watchdog is not None:
            self.watchdog.beat()
        with self._lock:
            update = Progress(
                done=done,
                total=total if total is not None else self.last.total,
                unit=unit if unit is not None else self.last.unit,
                message=message if message is not None else self.last.message,
            )
            self.last = update
            now = self.clock()
            final = update.total is not None and update.done >= update.total
            if not final and now - self._last_sent < self.min_interval:
                self._pending = True
                return
            self._last_sent = now
            self._pending = False
            number = self._ordered.number()
        self._ordered.put(number, update)


class CallbackSink:
    """Calls `on_progress(progress)` for progress and `on_heartbeat()` (optional) for heartbeats."""

    def __init__(self, on_progress: Callable[[Progress], Any] | None = None, on_heartbeat: Callable[[], Any] | None = None):
        self.on_progress = on_progress
        self.on_heartbeat = on_heartbeat

    def heartbeat(self) -> None:
        if self.on_heartbeat:
            self.on_heartbeat()

    def progress(self, progress: Progress) -> None:
        if self.on_progress:
            self.on_progress(progress)


def passes(progress: Progress, mark: Progress) -> bool:
    """`progress` is at least as far as `mark`: by the share done where the mark has a total (an attempt
    may count in other units or totals), else by the count done. The rule both backends hold a retried
    job's progress by (in-house: `InHouseBackend.on_progress`; Modal: `MappingSink(hold=)`)."""
    if mark.total:
        return bool(progress.total) and progress.done / progress.total >= mark.done / mark.total
    return progress.done >= mark.done


class MappingSink:
    """Writes `{"progress": {...}, "heartbeat_at": unix_seconds}` under `key` in a dict-like.

    Works with a plain dict (tests) and a `modal.Dict` (the Modal layer), which both
    support `mapping[key] = value`. Readers use `read_mapping(mapping, key)`.

    `hold`: the progress earlier attempts of the job reached (a retry counts up from zero
    again). What is written stays at it until this attempt's progress `passes` it, so a
    reader never sees the job step back; heartbeats and held progress still write (with the
    mark), so the heartbeat time stays fresh.
    """

    def __init__(self, mapping: MutableMapping[str, Any], key: str, *, wall_clock: Callable[[], float] = time.time,
                 hold: Progress | None = None):
        self.mapping = mapping
        self.key = key
        self.wall_clock = wall_clock
        self.last = hold or Progress()
        self._hold = hold
        # A heartbeat (align's side thread) rewrites the last progress: read and written under
        # one lock, or a slow heartbeat write of an older value lands after a newer progress.
        self._lock = threading.Lock()
        self._failed = 0  # writes failed in a row

    def _write(self) -> None:
        # Best effort: on Modal this is a `modal.Dict` write, and one that fails (a network blip
        # to the Dict) raised into the capability's body, ending a healthy job as `internal`.
        # The next progress or heartbeat writes the whole state again.
        try:
            self.mapping[self.key] = {"progress": self.last.model_dump(mode="json"), "heartbeat_at": self.wall_clock()}
        except Exception as e:  # noqa: BLE001 - any store error; the job's own work goes on
            self._failed += 1
            if self._failed == 1:  # once per outage: writes come every 0.2 s, an outage is not a line each
                log.warning("progress write failed; the next one carries it", extra={"key": self.key, "error": describe_crash(e)})
        else:
            if self._failed:
                log.info("progress writes work again", extra={"key": self.key, "failed_writes": self._failed})
            self._failed = 0

    def heartbeat(self) -> None:
        with self._lock:
            self._write()

    def progress(self, progress: Progress) -> None:
        with self._lock:
            if self._hold is not None:
                if not passes(progress, self._hold):
                    self._write()  # the mark again, with the heartbeat this progress carries
                    return
                self._hold = None
            self.last = progress
            self._write()


def read_mapping(mapping: Any, key: str) -> tuple[Progress, float | None]:
    """The latest progress and heartbeat time (unix seconds) that a `MappingSink` wrote."""
    try:
        entry = mapping.get(key)
    except KeyError:
        entry = None
    if not entry:
        return Progress(), None
    return Progress.model_validate(entry.get("progress") or {}), entry.get("heartbeat_at")


class PipeSink:
    """In a pool worker: sends `("hb",)` / `("progress", dict)` to the parent through `send`."""

    def __init__(self, send: Callable[[tuple], None]):
        self.send = send

    def heartbeat(self) -> None:
        self.send(("hb",))

    def progress(self, progress: Progress) -> None:
        self.send(("progress", progress.model_dump(mode="json")))
