"""An unanswered chunk poll is asked again with exponential backoff and jitter, not every second.

During a Modal outage every chunk's waiter re-polled its call every UNREACHABLE_RETRY_S (1 s)
for the whole grace (300 s): one poll a second per chunk against a control plane that is
already failing (20 chunks: 20/s; 20 renders: 400/s). Like Modal's own client and cockatiel,
the pause now doubles from UNREACHABLE_RETRY_S up to UNREACHABLE_RETRY_MAX_S, with seeded
jitter ("equal jitter": each pause in [step/2, step]), starts over once Modal answers, and
the last pause is clamped to the grace: the chunk is given up on when the grace ends, not a
whole backoff step later.

Driven on `fan_out_chunks` with a clock that only the injected wait moves. No sleeps.
"""

from __future__ import annotations

import random
import threading

import pytest
from modal.exception import ServiceError

from chunk_call_fakes import WAIT_S, FakeChunkFunction, in_thread, modal_shaped, specs_for
from modal_functions.modal_layer import fanout
from modal_functions.modal_layer.backend import _unreachable_errors
from modal_functions.modal_layer.fanout import ChunkCalls, fan_out_chunks


@pytest.fixture
def fn():
    fake = FakeChunkFunction()
    yield fake
    fake.release()


class FakeTime:
    """The clock the fan-out reads and the only thing that moves it: the injected wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def wait(self, seconds: float) -> None:
        with self.lock:
            self.waits.append(seconds)
            self.now += seconds


def _run_one_chunk(fn, poll, time: FakeTime, *, seed: int = 7, grace: float = 300.0):
    shaped = modal_shaped(fn)
    return in_thread(fan_out_chunks, specs_for("j", 1), spawn=shaped["spawn"], poll=poll, cancel=shaped["cancel"],
                     poll_wait_s=0.05, check_s=0.05, unreachable=_unreachable_errors(), unreachable_grace_s=grace,
                     clock=time.clock, unreachable_wait=time.wait, rng=random.Random(seed))


def _outage_on_first_call(fn, time: FakeTime, seed: int = 7) -> tuple[int, list[float]]:
    """One chunk whose first call Modal never answers about: (polls of it, the pauses between them)."""
    shaped = modal_shaped(fn)
    polls = [0]

    def poll(call, timeout):
        if call.number == 1:
            polls[0] += 1
            raise ServiceError("Modal: service unavailable")
        return shaped["poll"](call, timeout)

    thread, box = _run_one_chunk(fn, poll, time, seed=seed)
    first = fn.next_spawn()
    again = fn.next_spawn()  # given up on once the grace is over: run again alone
    assert (first.number, again.number) == (1, 2) and first.cancelled_with is True
    again.succeed()
    thread.join(WAIT_S)
    assert not thread.is_alive() and "error" not in box, box
    return polls[0], list(time.waits)


def test_an_outage_is_polled_with_a_backoff_capped_and_jittered(fn):
    time = FakeTime()
    polls, waits = _outage_on_first_call(fn, time)
    assert polls == len(waits) + 1  # one pause between two polls
    assert polls <= 35, polls  # was 301 (one a second for 300 s)
    step = fanout.UNREACHABLE_RETRY_S
    for wait in waits[:-1]:  # each pause in [step/2, step], the step doubling to the cap
        assert step / 2 <= wait <= step, (wait, step, waits)
        step = min(step * 2, fanout.UNREACHABLE_RETRY_MAX_S)
    assert waits[-1] <= step
    assert max(waits) <= fanout.UNREACHABLE_RETRY_MAX_S and max(waits) > fanout.UNREACHABLE_RETRY_MAX_S / 2
    assert len(set(waits[:-1])) > 1  # jittered: not the same pause every time at the cap


def test_the_grace_ends_at_the_same_moment_the_last_pause_clamped(fn):
    time = FakeTime()
    _outage_on_first_call(fn, time)
    assert time.now == 300.0  # given up on when the grace is over, not a backoff step after it


def test_the_jitter_is_seeded(fn):
    one = _outage_on_first_call(fn, FakeTime(), seed=3)
    other = FakeChunkFunction()
    try:
        assert _outage_on_first_call(other, FakeTime(), seed=3) == one
    finally:
        other.release()


def test_the_backoff_starts_over_once_modal_answers(fn):
    shaped = modal_shaped(fn)
    script = ["down", "down", "down", "running", "down", "down"]  # then the call's own answer

    def poll(call, timeout):
        if script:
            if script.pop(0) == "down":
                raise ServiceError("Modal: service unavailable")
            raise TimeoutError()  # Modal answered: the call still runs
        return shaped["poll"](call, timeout)

    time = FakeTime()
    thread, box = _run_one_chunk(fn, poll, time)
    call = fn.next_spawn()
    call.succeed()
    thread.join(WAIT_S)
    assert not thread.is_alive() and box["value"][0]["index"] == 0, box
    assert len(time.waits) == 5, time.waits
    base = fanout.UNREACHABLE_RETRY_S
    assert [base / 2 <= w <= base for w in (time.waits[0], time.waits[3])] == [True, True]  # the first pause of each outage
    assert time.waits[2] > base * 2  # the third pause of the first outage had doubled twice
    assert fn.spawn_counts() == {0: 1}


def test_a_cancel_wakes_a_waiter_pausing_between_unanswered_polls(fn):
    """With pauses up to UNREACHABLE_RETRY_MAX_S, a closed render must not wait them out (real clock, no injected wait)."""
    shaped = modal_shaped(fn)
    asked = threading.Event()

    def poll(call, timeout):
        if call.running and not call.cancelled_with:
            asked.set()
            raise ServiceError("Modal: service unavailable")
        return shaped["poll"](call, timeout)

    owner = ChunkCalls()
    thread, box = in_thread(fan_out_chunks, specs_for("j", 1), spawn=shaped["spawn"], poll=poll, cancel=shaped["cancel"],
                            calls=owner, poll_wait_s=0.05, check_s=0.05, unreachable=_unreachable_errors(),
                            unreachable_retry_s=3600.0)  # a pause no test would sit out
    fn.next_spawn()
    assert asked.wait(WAIT_S)
    todo = owner.close("the job was cancelled", settle_s=WAIT_S)
    assert [c.ended.is_set() for c in todo] == [True]  # its waiter woke, polled, and saw it end
    thread.join(WAIT_S)
    assert not thread.is_alive() and box["error"].code == "cancelled", box
