"""A chunk poll Modal could not answer is asked again, not counted as the chunk failing.

Each chunk call is long-polled with `FunctionCall.get(timeout=)`. When Modal's control
plane is briefly unreachable, the client raises `modal.exception.ConnectionError` (or
`ServiceError`, `InternalError`, `ResourceExhaustedError`) after its own retries, on the
poll of EVERY chunk at once. The fan-out counted that as each chunk failing: every chunk was
cancelled and rendered again, and a second outage within the render failed it. Such an
error is never the chunk's own outcome (`render_one_chunk` re-raises every uncoded failure
of the chunk body, its Volume commit included, as `chunk_failed`), so the call is polled
again; only an outage longer than the grace (the backend's UNREACHABLE_GRACE_S) counts as
the chunk failing, so a render never waits on a control plane that is gone.

The Modal shell path runs through `render_video.local()` (test_modal_chunk_map.py's
fixtures); the bound is checked on `fan_out_chunks` with a clock the test moves. No sleeps.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from modal.exception import ConnectionError as ModalConnectionError
from modal.exception import ServiceError

from chunk_call_fakes import WAIT_S, FakeChunkFunction, in_thread, modal_shaped, specs_for
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import _unreachable_errors
from modal_functions.modal_layer.chunks import render_one_chunk
from modal_functions.modal_layer.fanout import fan_out_chunks
from test_modal_chunk_map import ended, in_container, render, render_like  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore:The render_video function is executing locally")


def _unreachable_first(call, times: int, error: type[Exception] = ModalConnectionError) -> None:
    """The next `times` polls of `call` get `error`: Modal unreachable while the call runs on."""
    get, left = call.get, itertools.count(times, -1)

    def flaky(timeout=None):
        if next(left) > 0:
            raise error("Modal: could not reach the server")
        return get(timeout=timeout)

    call.get = flaky


def test_an_outage_on_every_chunk_poll_re_renders_nothing(in_container, monkeypatch):
    import modal_functions.modal_layer.fanout as fanout

    monkeypatch.setattr(fanout, "UNREACHABLE_RETRY_S", 0.0)
    spawn = in_container.chunks.spawn

    def spawn_during_an_outage(spec):
        call = spawn(spec)
        _unreachable_first(call, 2)  # every chunk's first two polls
        return call

    monkeypatch.setattr(in_container.chunks, "spawn", spawn_during_an_outage)
    thread, box = render(in_container, "u1")
    calls = in_container.chunks.spawns(3)
    for call in calls.values():
        call.succeed()
    out = ended(thread, box)
    assert out["ok"] and out["result"]["frames"] == 30, out
    assert in_container.chunks.spawn_counts() == {0: 1, 1: 1, 2: 1}  # nothing rendered again
    assert in_container.chunks.cancelled() == {}


@pytest.fixture
def fn():
    fake = FakeChunkFunction()
    yield fake
    fake.release()


def test_an_outage_past_the_grace_counts_as_the_chunk_failing(fn):
    shaped = modal_shaped(fn)
    now = [0.0]
    outage = threading.Event()

    def poll(call, timeout):
        if call.index == 1 and call.number == 1:
            now[0] += 100.0  # each unanswered poll: 100 s of outage
            outage.set()
            raise ServiceError("Modal: service unavailable")
        return shaped["poll"](call, timeout)

    thread, box = in_thread(fan_out_chunks, specs_for("j", 3), spawn=shaped["spawn"], poll=poll, cancel=shaped["cancel"],
                            poll_wait_s=0.05, check_s=0.05, unreachable=_unreachable_errors(), unreachable_grace_s=250.0,
                            unreachable_retry_s=0.0, clock=lambda: now[0])
    calls = fn.spawns(3)
    again = fn.next_spawn()  # after 300 s of outage (> 250 s), not at its first unanswered poll
    assert (again.index, again.number) == (1, 2) and now[0] == 400.0
    assert calls[1].cancelled_with is True  # the unanswered call is stopped before its retry runs
    for call in (calls[0], calls[2], again):
        call.succeed()
    thread.join(WAIT_S)
    assert not thread.is_alive() and [r["index"] for r in box["value"]] == [0, 1, 2]
    assert fn.spawn_counts() == {0: 1, 1: 2, 2: 1}


def test_a_chunk_whose_volume_commit_fails_fails_as_chunk_failed(monkeypatch, tmp_path):
    """The chunk body's own Modal error must not look like an unreachable poll (asked about for the whole grace)."""
    import modal_functions.render.chunks as render_chunks

    monkeypatch.setenv("RENDER_CHUNK_DIR", str(tmp_path))
    monkeypatch.setattr(render_chunks, "render_chunk", lambda chunk, out_dir: {"index": 0, "frames": 10})

    class Volume:
        def commit(self):
            raise ModalConnectionError("Volume commit: connection lost")

    with pytest.raises(CapabilityError) as e:
        render_one_chunk({"job_id": "j", "index": 0}, volume=Volume())
    assert e.value.code == "chunk_failed" and "connection lost" in e.value.message
