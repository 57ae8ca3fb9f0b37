"""A chunk whose poll fails is cancelled before it is rendered again.

`FunctionCall.get` can fail without the call having failed: Modal's client retries a
transient gRPC error a few times, then raises it. Such a poll is asked again for a grace
(test_modal_chunk_poll_unreachable.py); past it, or for any other error of the poll, the
fan-out counts the chunk as failed and renders it again, but it only forgot the first
call: that call kept running (and billing) next to its retry, both writing the same chunk
file of the same fan-out dir. The first call is now cancelled (`terminate_containers`)
before the retry is spawned.

Stand-in chunk calls the test finishes by hand (chunk_call_fakes.py); no sleeps: the
outage's length is a clock the test moves.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from modal.exception import ConnectionError as ModalConnectionError

from chunk_call_fakes import WAIT_S, FakeChunkFunction, in_thread, modal_shaped, specs_for
from modal_functions.modal_layer.backend import _unreachable_errors
from modal_functions.modal_layer.fanout import UNREACHABLE_GRACE_S, fan_out_chunks


@pytest.fixture
def fn():
    fake = FakeChunkFunction()
    yield fake
    fake.release()


def test_a_call_whose_poll_failed_is_cancelled_before_its_retry_runs(fn):
    shaped = modal_shaped(fn)
    flaked = threading.Event()

    def poll(call, timeout):
        if call.index == 1 and call.number == 1 and not flaked.is_set():
            raise ModalConnectionError("Modal: connection to the server lost")  # the call itself still runs
        return shaped["poll"](call, timeout)

    # Each unanswered poll of chunk 1 is read past the last one by more than the grace: the second fails it.
    clock = itertools.count(0.0, UNREACHABLE_GRACE_S + 1).__next__
    thread, box = in_thread(fan_out_chunks, specs_for("j", 3), spawn=shaped["spawn"], poll=poll, cancel=shaped["cancel"],
                            poll_wait_s=0.05, check_s=0.05, unreachable=_unreachable_errors(), unreachable_retry_s=0.0,
                            clock=clock)
    calls = fn.spawns(3)
    again = fn.next_spawn()
    flaked.set()
    assert (again.index, again.number) == (1, 2)
    assert not calls[1].running and calls[1].cancelled_with is True  # stopped, containers terminated
    assert fn.log.index(("cancel", 1, 1, True)) < fn.log.index(("spawn", 1, 2))
    for call in (calls[0], calls[2], again):
        call.succeed()
    thread.join(WAIT_S)
    assert not thread.is_alive() and [r["index"] for r in box["value"]] == [0, 1, 2]
    assert fn.spawn_counts() == {0: 1, 1: 2, 2: 1}
