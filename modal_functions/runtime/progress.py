"""# Progress and heartbeats: from a task to whoever watches it.

A task calls `ctx.progress(...)` and `ctx.heartbeat()` (see capability.TaskContext).
Both go through a `Reporter`, which

- beats the local `Watchdog` (if any) on every call, so a supervised body is never
  judged silent while it is talking;
- throttles what reaches the `ProgressSink`: heartbeats at most every `min_interval`
  seconds, progress at most every `min_interval` unless it is the final step.

Sinks are tiny: `PipeSink` (in-house worker -> parent process), `MappingSink` (any
`dict`-like, e.g. a `modal.Dict` keyed by job id), `CallbackSink` (CLI progress bar, tests).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, MutableMapping, Protocol

from ..contract.jobs import Progress
from .watchdog import Watchdog


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
        if pending:
            self.sink.progress(last)  # carries the heartbeat too
        else:
            self.sink.heartbeat()

    def flush(self) -> None:
        """Send a progress update that throttling held back (call when the body returns)."""
        with self._lock:
            pending, self._pending = self._pending, False
            last = self.last
            if pending:
                self._last_sent = self.clock()
        if pending:
            self.sink.progress(last)

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
        self.sink.progress(update)


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


class MappingSink:
    """Writes `{"progress": {...}, "heartbeat_at": unix_seconds}` under `key` in a dict-like.

    Works with a plain dict (tests) and a `modal.Dict` (the Modal layer), which both
    support `mapping[key] = value`. Readers use `read_mapping(mapping, key)`.
    """

    def __init__(self, mapping: MutableMapping[str, Any], key: str, *, wall_clock: Callable[[], float] = time.time):
        self.mapping = mapping
        self.key = key
        self.wall_clock = wall_clock
        self.last = Progress()

    def _write(self) -> None:
        self.mapping[self.key] = {"progress": self.last.model_dump(mode="json"), "heartbeat_at": self.wall_clock()}

    def heartbeat(self) -> None:
        self._write()

    def progress(self, progress: Progress) -> None:
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
