"""# A render's chunk calls, owned: spawned one by one, collected as they finish, never left running

`render_video` on Modal hands its chunks to `render_chunk` containers. A `.map` over them
cannot be stopped from our side: when the map's consumer stops (a chunk failed for good,
the job was cancelled, it stalled or timed out), the inputs still in flight keep running,
cost money and may write their chunk files onto the Volume after the job's chunk dir was
dropped. So the fan-out spawns ONE call per chunk and owns the handles:

- every call is started through a `ChunkCalls` (one per render attempt), which knows the
  calls not yet finished and cancels them all on `close()` (Modal: `FunctionCall.cancel(
  terminate_containers=True)`), from any thread, then waits a little for them to settle;
- results are collected as the calls finish, in any order (one waiter thread per call
  long-polls it and puts the outcome on a queue);
- a failed chunk is retried alone, at most `retries` times (`CHUNK_RETRIES`, as in-house);
  the others keep running and are never re-run. The failed call is cancelled first, since
  a failed poll does not mean a stopped call. The Modal function itself has no
  `retries` (see `settings_from_toml`), so a chunk never runs more than `1 + retries` times;
- a poll Modal could not answer (`unreachable`: its client's connection and service errors)
  is no outcome: a chunk body never raises one (`chunks.render_one_chunk` re-raises every
  uncoded failure as `chunk_failed`), and a control-plane outage would otherwise fail every
  chunk at once. The call is polled again, after a pause that backs off (1 s doubling to
  15 s, jittered so the chunks and renders do not poll a failing control plane in step,
  started over once Modal answers; cancelling the call ends the pause); only after
  `unreachable_grace_s` without an answer does it count as the chunk failing (the backend's
  UNREACHABLE_GRACE_S rule for jobs; the last pause is clamped to end at the grace);
- on EVERY exit of `fan_out_chunks` (success, a chunk failed for good, the job cancelled,
  an exception of any kind, including `BaseException`s such as Modal's `InputCancellation`)
  the calls it started and that are not finished are cancelled before it returns.
- every call that reports how long its container ran (a result's `seconds`, a
  `BilledChunkError`'s `seconds`: `chunks.render_one_chunk` measures both) is billed once,
  through `on_billed(seconds)`, as its waiter sees it end: a failed attempt bills as much
  as a good one (its container ran), and its retry bills again. A call cancelled before it
  answered reports nothing, and so bills nothing here.

Nothing here imports `modal`: the Modal shell (`chunks.map_chunks`) passes `spawn`
(`render_chunk.spawn`), `poll` (`FunctionCall.get(timeout=...)`: the result, or the
builtin `TimeoutError` while the call runs) and `cancel`, and tests pass stand-ins.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import CANCELLED, CapabilityError, describe_crash
from ..logs import get_logger

log = get_logger("canvascast.modal.fanout")

CHUNK_FAILED = "chunk_failed"  # a chunk call failed without a coded error (crash, lost container, Modal error)
CHUNK_RETRIES = 1  # a failed chunk is run again once, alone (same rule as the in-house drivers)
POLL_WAIT_S = 25.0  # one long poll of a running call (`FunctionCall.get(timeout=)` waits server-side)
CHECK_S = 5.0  # how often the fan-out looks at `is_cancelled` (one Dict read on Modal)
UNREACHABLE_GRACE_S = 300.0  # a chunk call Modal cannot answer about for this long counts as failed
UNREACHABLE_RETRY_S = 1.0  # first pause before polling again after an unanswered poll (the client retried already)
UNREACHABLE_RETRY_MAX_S = 15.0  # the pause doubles up to this; an outage is not polled every second by every chunk
SETTLE_S = 2.0  # after cancelling, how long `close()` waits for Modal to report the calls ended

_RNG = random.Random()  # the backoff's jitter; tests pass a seeded one (`rng=`)


class BilledChunkError(CapabilityError):
    """A chunk's failure with the `seconds` its container ran before it (they bill all the same).

    Pickled with them, as Modal hands a remote exception to the caller."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, http_status: int = 422, seconds: float = 0.0):
        super().__init__(code, message, retryable=retryable, http_status=http_status)
        self.seconds = seconds

    def __reduce__(self):
        return (_rebuild_billed, (self.code, self.message, self.retryable, self.http_status, self.seconds))


def _rebuild_billed(code: str, message: str, retryable: bool, http_status: int, seconds: float) -> BilledChunkError:
    return BilledChunkError(code, message, retryable=retryable, http_status=http_status, seconds=seconds)


def billed_seconds(outcome: Any) -> float | None:
    """The seconds a chunk call's container ran, from its result or its error; None if it did not say."""
    seconds = outcome.get("seconds") if isinstance(outcome, dict) else getattr(outcome, "seconds", None)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        return None
    return float(seconds)


@dataclass(eq=False)
class ChunkCall:
    """One spawned chunk call: its handle, how to cancel it, and whether it has ended."""

    handle: Any
    cancel: Callable[[Any], None]
    ended: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    woken: threading.Event = field(default_factory=threading.Event)  # set once cancelled: ends its waiter's pause


class ChunkCalls:
    """The chunk calls of one render attempt that have not ended yet. Thread-safe.

    `start()` spawns under the lock, so no call can be started after `close()` or slip
    between its spawn and its registration: `close()` waits for a spawn in progress and
    cancels what it produced. `close()` is final: a later `start()` raises `cancelled`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: list[ChunkCall] = []
        self._wakers: list[Callable[[], None]] = []
        self.closed_because: str | None = None
        self.cancelled: list[Any] = []  # every handle cancelled here, in order (logs, tests)

    @property
    def closed(self) -> bool:
        return self.closed_because is not None

    def start(self, spawn: Callable[[], Any], cancel: Callable[[Any], None]) -> ChunkCall:
        """Spawn one call and own it until it ends."""
        with self._lock:
            if self.closed_because is not None:
                raise CapabilityError(CANCELLED, f"chunked render stopped: {self.closed_because}", http_status=409)
            call = ChunkCall(spawn(), cancel)
            self._live.append(call)
            return call

    def ended(self, call: ChunkCall) -> None:
        """The call returned or raised: nothing left to cancel."""
        with self._lock:
            if call in self._live:
                self._live.remove(call)
        call.ended.set()

    def forget(self, call: ChunkCall) -> None:
        """A cancelled call whose end Modal has not reported: stop tracking it."""
        with self._lock:
            if call in self._live:
                self._live.remove(call)

    def live(self) -> list[ChunkCall]:
        with self._lock:
            return list(self._live)

    def on_close(self, wake: Callable[[], None]) -> None:
        """`wake()` runs once when the owner closes (at once if it is closed already)."""
        with self._lock:
            if self.closed_because is None:
                self._wakers.append(wake)
                return
        wake()

    def cancel(self, calls: list[ChunkCall] | None = None) -> list[ChunkCall]:
        """Cancel `calls` (default: every live one) that have not ended; the owner stays open."""
        with self._lock:
            todo = [c for c in (self._live if calls is None else calls) if c in self._live and not c.cancelled]
            for call in todo:
                call.cancelled = True
        for call in todo:
            try:
                call.cancel(call.handle)
            except Exception as e:  # noqa: BLE001 - one failed cancel must not keep the others running
                log.warning("cancelling a chunk call failed", extra={"error": describe_crash(e)})
            call.woken.set()  # a waiter pausing out an outage polls now, so `close()` sees the call end
            with self._lock:
                self.cancelled.append(call.handle)
        return todo

    def close(self, reason: str, *, settle_s: float = SETTLE_S) -> list[ChunkCall]:
        """No more calls: cancel every one not ended, then wait up to `settle_s` for them to end."""
        with self._lock:
            if self.closed_because is None:
                self.closed_because = reason
            wakers, self._wakers = self._wakers, []
        for wake in wakers:
            wake()
        todo = self.cancel()
        deadline = time.monotonic() + settle_s
        for call in todo:
            if not call.ended.wait(max(0.0, deadline - time.monotonic())):
                break
        return todo


def fan_out_chunks(
    specs: list[dict[str, Any]],
    *,
    spawn: Callable[[dict[str, Any]], Any],
    poll: Callable[[Any, float], dict[str, Any]],
    cancel: Callable[[Any], None],
    calls: ChunkCalls | None = None,
    retries: int = CHUNK_RETRIES,
    on_result: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None = None,
    on_retry: Callable[[int, BaseException], None] | None = None,
    on_billed: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    poll_wait_s: float = POLL_WAIT_S,
    check_s: float = CHECK_S,
    settle_s: float = SETTLE_S,
    unreachable: tuple[type[BaseException], ...] = (),
    unreachable_grace_s: float = UNREACHABLE_GRACE_S,
    unreachable_retry_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    unreachable_wait: Callable[[float], Any] | None = None,
    rng: random.Random | None = None,
) -> list[dict[str, Any]]:
    """Run one call per spec and return their results (in spec order).

    - `spawn(spec)` starts a call and returns its handle; `poll(handle, timeout)` returns
      its result, raises the builtin `TimeoutError` while it runs, or raises its error;
      `cancel(handle)` stops it.
    - `calls`: the render attempt's owner, which its shell closes when the attempt ends
      (any path); without one the fan-out owns its calls alone and closes them itself.
    - `on_result(result, results_so_far)` after each chunk, in completion order;
      `on_retry(index, error)` before a failed chunk runs again.
    - `on_billed(seconds)` once per call that ended saying how long it ran (`billed_seconds`),
      failed ones included, from the call's waiter thread.
    - `is_cancelled()` is looked at every `check_s`: True stops it.
    - `poll_wait_s`: one poll's wait; `settle_s`: how long a fan-out that owns its calls
      waits, after cancelling them, for them to end.
    - `unreachable`: the errors of a poll Modal did not answer (the shell passes Modal's);
      such a poll is repeated after a pause that starts at `unreachable_retry_s` (default
      UNREACHABLE_RETRY_S) and doubles up to UNREACHABLE_RETRY_MAX_S, jittered by `rng` (each
      pause in [step/2, step]) and paused with `unreachable_wait(seconds)` (default: until the
      pause is over or the call is cancelled); it starts over once Modal answers. The call
      counts as the chunk failing once `clock()` says it went unanswered for
      `unreachable_grace_s` (the last pause is clamped to end there).

    Raises the chunk's `CapabilityError` (message prefixed with the chunk) once a chunk
    failed `1 + retries` times, `chunk_failed` for an uncoded failure, `cancelled` when the
    owner was closed or `is_cancelled()` said so. Before it returns or raises, every call
    it started that has not finished is cancelled.
    """
    if not specs:
        return []
    own = calls is None
    owner = calls if calls is not None else ChunkCalls()
    outcomes: queue.Queue = queue.Queue()
    stop = object()
    owner.on_close(lambda: outcomes.put(stop))
    count = len(specs)
    results: dict[int, dict[str, Any]] = {}
    tries = [0] * count
    mine: list[ChunkCall] = []

    def bill(outcome: Any) -> None:
        seconds = billed_seconds(outcome)
        if on_billed is not None and seconds is not None:
            try:
                on_billed(seconds)
            except Exception as e:  # noqa: BLE001 - the bill must not lose the chunk's outcome
                log.warning("chunk seconds not billed", extra={"error": describe_crash(e)})

    first_pause = UNREACHABLE_RETRY_S if unreachable_retry_s is None else unreachable_retry_s
    jitter = rng if rng is not None else _RNG

    def waiter(index: int, call: ChunkCall) -> None:
        unanswered_since: float | None = None
        step = first_pause
        while True:
            wait = min(poll_wait_s, SETTLE_S) if call.cancelled else poll_wait_s
            try:
                value = poll(call.handle, wait)
            except TimeoutError:  # still running (a chunk body never raises a bare TimeoutError: see render_one_chunk)
                unanswered_since = None
                if call.cancelled:
                    owner.forget(call)  # cancelled, and its end not reported within SETTLE_S: stop polling
                    return
                continue
            except BaseException as e:  # noqa: BLE001 - the chunk's error, for the fan-out to handle
                if isinstance(e, unreachable) and not call.cancelled:  # Modal did not answer: no outcome of the chunk
                    now = clock()
                    if unanswered_since is None:  # logged once per outage, not once per poll
                        unanswered_since, step = now, first_pause  # each outage backs off from the start
                        log.warning("chunk call not answered; asking again", extra={"chunk": index, "error": describe_crash(e)})
                    left = unanswered_since + unreachable_grace_s - now
                    if left > 0:
                        # Exponential backoff with "equal jitter" (a pause in [step/2, step]), so the
                        # chunks of a render, and the renders, do not poll a failing control plane in
                        # step; the last pause ends at the grace, not a whole step past it.
                        pause = min(step / 2 + jitter.random() * step / 2, left)
                        (unreachable_wait or call.woken.wait)(pause)
                        step = min(step * 2, max(first_pause, UNREACHABLE_RETRY_MAX_S))
                        continue
                # It may be the poll that failed, not the call (Modal unanswered past the grace):
                # cancel it before the chunk runs again, or both calls run,
                # writing the same chunk file. Cancelling a call that has ended changes nothing.
                owner.cancel([call])
                owner.ended(call)
                bill(e)
                outcomes.put((index, call, False, e))
                return
            owner.ended(call)
            bill(value)
            outcomes.put((index, call, True, value))
            return

    def launch(index: int) -> None:
        tries[index] += 1
        try:
            call = owner.start(lambda: spawn(specs[index]), cancel)
        except CapabilityError:
            raise
        except Exception as e:  # noqa: BLE001 - the call could not even be started
            raise CapabilityError(CHUNK_FAILED, f"chunk {index + 1}/{count} could not be started: {describe_crash(e)}", retryable=True, http_status=500) from e
        mine.append(call)
        threading.Thread(target=waiter, args=(index, call), name=f"chunk-call-{index}", daemon=True).start()

    try:
        for index in range(count):
            launch(index)
        next_check = time.monotonic() + check_s
        while len(results) < count:
            if owner.closed:
                raise CapabilityError(CANCELLED, f"chunked render stopped: {owner.closed_because}", http_status=409)
            if is_cancelled is not None and time.monotonic() >= next_check:
                next_check = time.monotonic() + check_s
                if _asks_to_stop(is_cancelled):
                    raise CapabilityError(CANCELLED, "chunked render stopped: the job was cancelled", http_status=409)
            try:
                item = outcomes.get(timeout=max(0.0, next_check - time.monotonic()) if is_cancelled is not None else check_s)
            except queue.Empty:
                continue
            if item is stop:
                continue  # the loop head raises `cancelled`
            index, _call, ok, value = item
            if ok:
                results[index] = value
                if on_result is not None:
                    on_result(value, [results[i] for i in sorted(results)])
                continue
            if _retry(value) and tries[index] <= retries:
                log.warning("chunk failed; retrying it alone", extra={"chunk": index, "try": tries[index], "error": _describe(value)})
                if on_retry is not None:
                    on_retry(index, value)
                launch(index)
                continue
            raise _final_error(index, count, tries[index], value)
        return [results[i] for i in range(count)]
    finally:
        if own:
            owner.close("the fan-out ended", settle_s=settle_s)
        else:
            # The attempt's owner stays open (its shell closes it when the attempt ends);
            # the calls started here that are still running are cancelled now.
            owner.cancel(mine)


def _asks_to_stop(is_cancelled: Callable[[], bool]) -> bool:
    try:
        return bool(is_cancelled())
    except Exception:  # noqa: BLE001 - a failed Dict read is not a cancel
        return False


def _retry(error: BaseException) -> bool:
    """Any chunk failure is worth one more run alone, except a cancel (and non-`Exception`s)."""
    if not isinstance(error, Exception):
        return False
    return not (isinstance(error, CapabilityError) and error.code == CANCELLED)


def _describe(error: BaseException) -> str:
    if isinstance(error, CapabilityError):
        return f"{error.code}: {error.message}"
    return describe_crash(error)


def _final_error(index: int, count: int, tries: int, error: BaseException) -> BaseException:
    where = f"chunk {index + 1}/{count} failed" + (f" after {tries} tries" if tries > 1 else "")
    if isinstance(error, CapabilityError):
        return CapabilityError(error.code, f"{where}: {error.message}", retryable=error.retryable, http_status=error.http_status)
    if not isinstance(error, Exception):
        return error  # KeyboardInterrupt & co. propagate as they are
    return CapabilityError(CHUNK_FAILED, f"{where}: {describe_crash(error)}", retryable=True, http_status=500)
