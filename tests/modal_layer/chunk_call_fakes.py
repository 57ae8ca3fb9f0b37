"""Stand-ins for `render_chunk` on Modal: `.spawn()` -> a call the test finishes by hand.

`FakeCall` behaves like `modal.FunctionCall` where the fan-out relies on it:
`get(timeout=)` returns the result, raises the chunk's error, or raises the builtin
`TimeoutError` while the call runs; `cancel(terminate_containers=)` ends it (a later
`get` raises). Nothing finishes on its own: the test plays Modal and finishes calls in
the order it wants, taking each spawned call from `FakeChunkFunction.next_spawn()`.

`FakeChunkFunction.map(...)` is what `render_chunk.map` did for the code before the
fan-out owned its calls (kept so the tests can be run against that code): every input
started, outputs in completion order, a failed input retried `retries` times by
"Modal", and a final failure raised to the consumer with the other inputs left running.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

WAIT_S = 10.0  # safety net only: every wait below returns as soon as its event happens


class ChunkCallCancelled(Exception):
    """What `get()` raises on a cancelled call (Modal reports a terminated input)."""


class FakeCall:
    def __init__(self, fn: "FakeChunkFunction", spec: dict[str, Any], number: int):
        self.fn = fn
        self.spec = spec
        self.index = int(spec["index"])
        self.number = number  # 1 for the first call of this chunk, 2 for its retry...
        self.cancelled_with: bool | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._outcome: tuple[bool, Any] | None = None

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def _settle(self, ok: bool, value: Any) -> bool:
        with self._lock:
            if self._outcome is not None:
                return False
            self._outcome = (ok, value)
        self._done.set()
        self.fn._completed.put(self)
        return True

    def succeed(self) -> dict[str, Any]:
        a, b = self.spec["frameRange"]
        result = {"index": self.index, "video": f"/cache/chunks/{self.spec['job_id']}/{self.index}.ts", "audio": "", "frames": b - a + 1}
        assert self._settle(True, result), f"chunk {self.index} call {self.number} had ended already"
        self.fn.record("done", self.index, self.number)
        return result

    def fail(self, error: BaseException) -> None:
        assert self._settle(False, error), f"chunk {self.index} call {self.number} had ended already"
        self.fn.record("failed", self.index, self.number)

    # ## modal.FunctionCall

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        if not self._done.wait(timeout):
            raise TimeoutError()
        ok, value = self._outcome  # type: ignore[misc]
        if ok:
            return value
        raise value

    def cancel(self, terminate_containers: bool = False) -> None:
        if self._settle(False, ChunkCallCancelled(f"chunk {self.index} cancelled")):
            self.cancelled_with = terminate_containers
            self.fn.record("cancel", self.index, self.number, terminate_containers)
        else:  # Modal: cancelling a call that has ended changes nothing
            self.fn.record("cancel-ended", self.index, self.number, terminate_containers)


class FakeChunkFunction:
    def __init__(self, *, retries: int = 0):
        self.retries = retries  # what Modal would do for `.map` inputs (the old code's only retry)
        self.calls: list[FakeCall] = []
        self.log: list[tuple] = []
        self.map_kwargs: dict[str, Any] | None = None
        self._spawned: queue.Queue = queue.Queue()
        self._completed: queue.Queue = queue.Queue()
        self._lock = threading.Lock()

    def record(self, *event: Any) -> None:
        with self._lock:
            self.log.append(event)

    def spawn(self, spec: dict[str, Any]) -> FakeCall:
        with self._lock:
            number = 1 + sum(1 for c in self.calls if c.index == int(spec["index"]))
            call = FakeCall(self, spec, number)
            self.calls.append(call)
            self.log.append(("spawn", call.index, number))
        self._spawned.put(call)
        return call

    def next_spawn(self, timeout: float = WAIT_S) -> FakeCall:
        return self._spawned.get(timeout=timeout)

    def spawns(self, n: int) -> dict[int, FakeCall]:
        """The next `n` spawned calls, by chunk index."""
        calls = [self.next_spawn() for _ in range(n)]
        return {c.index: c for c in calls}

    def no_more_spawns(self) -> bool:
        return self._spawned.empty()

    def spawn_counts(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for call in self.calls:
            out[call.index] = out.get(call.index, 0) + 1
        return out

    def cancelled(self) -> dict[int, bool]:
        """Chunk index -> terminate_containers, for every call ended by a cancel."""
        return {c.index: c.cancelled_with for c in self.calls if c.cancelled_with is not None}

    def release(self) -> None:
        """Teardown: end every call still running, so nothing waits on them any more."""
        for call in list(self.calls):
            if call.running:
                call._settle(False, ChunkCallCancelled("test over"))

    # ## What `.map` did (the old code's path)

    def map(self, specs, order_outputs: bool = True, return_exceptions: bool = False, **kwargs):
        self.map_kwargs = {"order_outputs": order_outputs, "return_exceptions": return_exceptions, **kwargs}

        def outputs():
            live = {id(c): c for c in (self.spawn(s) for s in specs)}
            retried: dict[int, int] = {}
            while live:
                call = self._completed.get()
                if live.pop(id(call), None) is None:
                    continue
                ok, value = call._outcome  # type: ignore[misc]
                if ok:
                    yield value
                elif retried.get(call.index, 0) < self.retries:
                    retried[call.index] = retried.get(call.index, 0) + 1
                    again = self.spawn(call.spec)
                    live[id(again)] = again
                elif return_exceptions:
                    yield value
                else:
                    raise value  # the map ends here; its other inputs keep running

        return outputs()


def modal_shaped(fn: FakeChunkFunction) -> dict[str, Any]:
    """The spawn/poll/cancel callables the Modal shell builds from `render_chunk`."""
    return {
        "spawn": fn.spawn,
        "poll": lambda call, timeout: call.get(timeout=timeout),
        "cancel": lambda call: call.cancel(terminate_containers=True),
    }


def specs_for(job_id: str, n: int, per: int = 10) -> list[dict[str, Any]]:
    return [{"job_id": job_id, "index": i, "frameRange": [i * per, i * per + per - 1], "totalFrames": per * n} for i in range(n)]


def in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `target` in a thread; the box gets `value` or `error` when it ends."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = target(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - inspected by the test
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box
