"""A chunk whose poll fails is cancelled before it is rendered again.

`FunctionCall.get` can fail without the call having failed: Modal's client retries a
transient gRPC error a few times, then raises it. The fan-out counts any such error as
the chunk failing and renders it again, which is right, but it only forgot the first
call: that call kept running (and billing) next to its retry, both writing the same chunk
file of the same fan-out dir. The first call is now cancelled (`terminate_containers`)
before the retry is spawned.

Stand-in chunk calls the test finishes by hand (chunk_call_fakes.py); no sleeps.
"""

from __future__ import annotations

import threading

import pytest

from chunk_call_fakes import WAIT_S, FakeChunkFunction, in_thread, modal_shaped, specs_for
from modal_functions.modal_layer.fanout import fan_out_chunks


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
            flaked.set()
            raise ConnectionError("Modal: connection to the server lost")  # the call itself still runs
        return shaped["poll"](call, timeout)

    thread, box = in_thread(fan_out_chunks, specs_for("j", 3), spawn=shaped["spawn"], poll=poll, cancel=shaped["cancel"],
                            poll_wait_s=0.05, check_s=0.05)
    calls = fn.spawns(3)
    again = fn.next_spawn()
    assert (again.index, again.number) == (1, 2)
    assert not calls[1].running and calls[1].cancelled_with is True  # stopped, containers terminated
    assert fn.log.index(("cancel", 1, 1, True)) < fn.log.index(("spawn", 1, 2))
    for call in (calls[0], calls[2], again):
        call.succeed()
    thread.join(WAIT_S)
    assert not thread.is_alive() and [r["index"] for r in box["value"]] == [0, 1, 2]
    assert fn.spawn_counts() == {0: 1, 1: 2, 2: 1}
