"""The render fan-out owns its chunk calls (modal_layer/fanout.py), tested without Modal.

One call per chunk, results as they finish (any order), a failed chunk run again alone,
and on every way out (a chunk failed for good, the attempt closed from another thread,
the job cancelled, an exception in our own code) every call not finished is cancelled
with `terminate_containers=True` before the fan-out returns. `render_chunk` is stood in
for by calls the test finishes by hand (chunk_call_fakes.py); synchronisation is by
queues and events only.
"""

from __future__ import annotations

import queue
import sys
import threading
import types

import pytest

from chunk_call_fakes import WAIT_S, FakeChunkFunction, in_thread, modal_shaped, specs_for
from modal_functions.errors import CANCELLED, CapabilityError
from modal_functions.modal_layer import chunks
from modal_functions.modal_layer.fanout import CHUNK_FAILED, ChunkCalls, fan_out_chunks

FAST = {"poll_wait_s": 0.05, "check_s": 0.05}


@pytest.fixture
def fn():
    fake = FakeChunkFunction()
    yield fake
    fake.release()


def run_fan_out(fn, specs, **kwargs):
    return in_thread(fan_out_chunks, specs, **modal_shaped(fn), **FAST, **kwargs)


def joined(thread):
    thread.join(WAIT_S)
    assert not thread.is_alive(), "the fan-out did not return"


def test_chunks_finishing_out_of_order_come_back_in_spec_order(fn):
    seen: queue.Queue = queue.Queue()
    thread, box = run_fan_out(fn, specs_for("j", 4), on_result=lambda r, rs: seen.put((r["index"], [x["index"] for x in rs])))
    calls = fn.spawns(4)
    assert sorted(calls) == [0, 1, 2, 3]
    done: list[int] = []
    for index in (2, 0, 3, 1):
        calls[index].succeed()
        done.append(index)
        assert seen.get(timeout=WAIT_S) == (index, sorted(done))  # reported as it finishes
    joined(thread)
    assert [r["index"] for r in box["value"]] == [0, 1, 2, 3]
    assert fn.spawn_counts() == {0: 1, 1: 1, 2: 1, 3: 1}
    assert fn.cancelled() == {}


def test_a_chunk_failing_once_is_retried_alone_while_the_others_keep_running(fn):
    retried: queue.Queue = queue.Queue()
    thread, box = run_fan_out(fn, specs_for("j", 3), on_retry=lambda i, e: retried.put((i, e.code)))
    calls = fn.spawns(3)
    calls[0].succeed()
    calls[1].fail(CapabilityError("sidecar_crashed", "render sidecar exited", retryable=True, http_status=500))
    assert retried.get(timeout=WAIT_S) == (1, "sidecar_crashed")
    again = fn.next_spawn()
    assert (again.index, again.number) == (1, 2)
    assert calls[2].running  # the others were neither stopped nor restarted
    calls[2].succeed()
    again.succeed()
    joined(thread)
    assert [r["index"] for r in box["value"]] == [0, 1, 2]
    assert fn.spawn_counts() == {0: 1, 1: 2, 2: 1}
    assert fn.cancelled() == {}


@pytest.mark.parametrize("owned_by_attempt", [False, True])
def test_a_chunk_failing_for_good_cancels_every_other_running_call(fn, owned_by_attempt):
    owner = ChunkCalls() if owned_by_attempt else None
    thread, box = run_fan_out(fn, specs_for("j", 4), calls=owner)
    calls = fn.spawns(4)
    calls[0].succeed()
    calls[1].fail(CapabilityError("render_failed", "render failed: boom", http_status=500))
    again = fn.next_spawn()
    again.fail(CapabilityError("render_failed", "render failed: boom again", http_status=500))
    joined(thread)
    error = box["error"]
    assert isinstance(error, CapabilityError) and error.code == "render_failed"
    assert error.message == "chunk 2/4 failed after 2 tries: render failed: boom again"
    # chunks 2 and 3 were still running: cancelled (containers terminated) before it returned
    assert fn.cancelled() == {2: True, 3: True}
    assert fn.spawn_counts() == {0: 1, 1: 2, 2: 1, 3: 1}  # never more than one retry
    if owner is not None:
        assert not owner.closed  # the attempt's owner stays open (its shell closes it)


def test_an_uncoded_chunk_failure_surfaces_as_chunk_failed(fn):
    thread, box = run_fan_out(fn, specs_for("j", 2))
    calls = fn.spawns(2)
    calls[0].fail(RuntimeError("container lost"))
    fn.next_spawn().fail(RuntimeError("container lost again"))
    joined(thread)
    error = box["error"]
    assert error.code == CHUNK_FAILED and error.retryable
    assert "chunk 1/2 failed after 2 tries" in error.message and "container lost again" in error.message
    assert fn.cancelled() == {1: True}


def test_a_cancelled_chunk_is_not_retried(fn):
    thread, box = run_fan_out(fn, specs_for("j", 2))
    calls = fn.spawns(2)
    calls[0].fail(CapabilityError(CANCELLED, "cancelled"))
    joined(thread)
    assert box["error"].code == CANCELLED
    assert fn.spawn_counts() == {0: 1, 1: 1} and fn.cancelled() == {1: True}


def test_closing_the_attempt_mid_way_cancels_every_call_in_flight(fn):
    """What `render_video` does when its attempt ends while the body thread still waits (stall, timeout, cancel)."""
    owner = ChunkCalls()
    seen: queue.Queue = queue.Queue()
    thread, box = run_fan_out(fn, specs_for("j", 3), calls=owner, on_result=lambda r, rs: seen.put(r["index"]))
    calls = fn.spawns(3)
    calls[0].succeed()
    assert seen.get(timeout=WAIT_S) == 0
    cancelled = owner.close("the render attempt ended")
    assert sorted(c.handle.index for c in cancelled) == [1, 2]
    assert fn.cancelled() == {1: True, 2: True}  # done by the time close() returns
    joined(thread)
    assert box["error"].code == CANCELLED and "the render attempt ended" in box["error"].message
    with pytest.raises(CapabilityError) as refused:  # nothing can be started afterwards
        owner.start(lambda: fn.spawn(specs_for("j", 1)[0]), lambda call: call.cancel(terminate_containers=True))
    assert refused.value.code == CANCELLED
    assert fn.spawn_counts() == {0: 1, 1: 1, 2: 1}


def test_a_retry_never_starts_after_the_attempt_was_closed(fn):
    owner = ChunkCalls()
    gate = threading.Event()
    reached: queue.Queue = queue.Queue()

    def on_retry(index, error):  # the fan-out is about to run chunk `index` again: close the attempt first
        reached.put(index)
        gate.wait(WAIT_S)

    thread, box = run_fan_out(fn, specs_for("j", 2), calls=owner, on_retry=on_retry)
    calls = fn.spawns(2)
    calls[0].fail(RuntimeError("flake"))
    assert reached.get(timeout=WAIT_S) == 0
    owner.close("the render attempt ended")
    gate.set()
    joined(thread)
    assert box["error"].code == CANCELLED
    assert fn.spawn_counts() == {0: 1, 1: 1}  # no second call for chunk 0
    assert fn.cancelled() == {1: True}


def test_the_job_cancelled_mid_way_stops_the_fan_out_and_cancels_every_call(fn):
    cancelled = threading.Event()
    thread, box = run_fan_out(fn, specs_for("j", 3), is_cancelled=cancelled.is_set)
    calls = fn.spawns(3)
    calls[1].succeed()
    cancelled.set()  # the job's record now says cancelled
    joined(thread)
    assert box["error"].code == CANCELLED and "the job was cancelled" in box["error"].message
    assert fn.cancelled() == {0: True, 2: True}


def test_an_exception_in_our_own_code_still_cancels_the_calls(fn):
    def on_result(result, results):
        raise RuntimeError("progress sink broke")

    thread, box = run_fan_out(fn, specs_for("j", 3), on_result=on_result)
    calls = fn.spawns(3)
    calls[2].succeed()
    joined(thread)
    assert isinstance(box["error"], RuntimeError)
    assert fn.cancelled() == {0: True, 1: True}


def test_a_closed_attempt_starts_nothing(fn):
    owner = ChunkCalls()
    owner.close("the render attempt ended")
    with pytest.raises(CapabilityError) as e:
        fan_out_chunks(specs_for("j", 2), calls=owner, **modal_shaped(fn), **FAST)
    assert e.value.code == CANCELLED
    assert fn.calls == []


def test_a_failed_cancel_does_not_keep_the_other_calls_running(fn):
    shaped = modal_shaped(fn)

    def cancel(call):
        if call.index == 0:
            raise ConnectionError("control plane unreachable")
        shaped["cancel"](call)

    thread, box = in_thread(fan_out_chunks, specs_for("j", 3), spawn=shaped["spawn"], poll=shaped["poll"], cancel=cancel,
                            **FAST, settle_s=0.2, is_cancelled=lambda: True)
    fn.spawns(3)
    joined(thread)
    assert box["error"].code == CANCELLED
    assert fn.cancelled() == {1: True, 2: True}


# ## Heartbeat and progress while waiting (collect_chunks, the shell's wrapper)


class Ctx:
    """The bits of `RuntimeContext` the fan-out uses; every beat and progress goes on a queue."""

    def __init__(self):
        self.beats: queue.Queue = queue.Queue()
        self.updates: queue.Queue = queue.Queue()
        self.last_progress = types.SimpleNamespace(done=0)

    def heartbeat(self):
        self.beats.put(1)

    def progress(self, done, total, unit, message):
        self.last_progress = types.SimpleNamespace(done=done)
        self.updates.put((done, total, unit, message))


def test_heartbeats_go_on_while_no_chunk_finishes_and_progress_counts_frames(fn):
    ctx = Ctx()
    thread, box = in_thread(chunks.collect_chunks, specs_for("j", 3), ctx, **modal_shaped(fn), heartbeat_s=0.01, poll_wait_s=0.05)
    calls = fn.spawns(3)
    for _ in range(5):  # nothing finished, the job's watchdog is still fed
        ctx.beats.get(timeout=WAIT_S)
    calls[1].succeed()
    assert ctx.updates.get(timeout=WAIT_S) == (10, 30, "frames", "1/3 chunks rendered")
    calls[0].fail(RuntimeError("flake"))
    assert ctx.updates.get(timeout=WAIT_S) == (10, 30, "frames", "chunk 1/3 failed; rendering it again")
    for _ in range(3):  # still beating while the retry runs
        ctx.beats.get(timeout=WAIT_S)
    fn.next_spawn().succeed()
    assert ctx.updates.get(timeout=WAIT_S) == (20, 30, "frames", "2/3 chunks rendered")
    calls[2].succeed()
    assert ctx.updates.get(timeout=WAIT_S) == (30, 30, "frames", "3/3 chunks rendered")
    joined(thread)
    assert [r["index"] for r in box["value"]] == [0, 1, 2]


# ## The attempt's shell: cancel first, then drop the chunk dir


def test_owning_chunks_cancels_the_calls_before_the_chunk_dir_is_dropped(fn, monkeypatch):
    monkeypatch.setattr(chunks, "drop_chunks", lambda job_id, volume=None: fn.record("drop", job_id))
    with pytest.raises(RuntimeError, match="watchdog"):
        with chunks.owning_chunks("job-7") as owner:
            assert chunks.chunk_calls("job-7") is owner
            seen: queue.Queue = queue.Queue()
            thread, box = run_fan_out(fn, specs_for("job-7", 3), calls=owner, on_result=lambda r, rs: seen.put(r["index"]))
            calls = fn.spawns(3)
            calls[0].succeed()
            assert seen.get(timeout=WAIT_S) == 0
            raise RuntimeError("watchdog: timeout")  # the attempt ends; the body thread still waits on chunks
    assert chunks.chunk_calls("job-7") is None
    ends = [e for e in fn.log if e[0] in ("cancel", "drop")]
    assert ends == [("cancel", 1, 1, True), ("cancel", 2, 1, True), ("drop", "job-7")]
    joined(thread)
    assert box["error"].code == CANCELLED


def test_owning_chunks_drops_even_when_nothing_fanned_out(monkeypatch):
    dropped = []
    monkeypatch.setattr(chunks, "drop_chunks", lambda job_id, volume=None: dropped.append(job_id))
    with chunks.owning_chunks("job-8"):
        pass
    assert dropped == ["job-8"]


# ## The chunk body


@pytest.fixture
def fake_chunk_module(monkeypatch, tmp_path):
    module = types.ModuleType("fake_render_chunks")
    monkeypatch.setitem(sys.modules, "fake_render_chunks", module)
    monkeypatch.setattr(chunks, "CHUNK_MODULE", "fake_render_chunks")
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(tmp_path / "chunks"))
    return module


def test_a_chunk_writes_under_its_fan_out_dir(fake_chunk_module, tmp_path):
    fake_chunk_module.render_chunk = lambda chunk, out_dir: {"index": chunk["index"], "dir": str(out_dir)}
    out = chunks.render_one_chunk({"job_id": "r9", "index": 0, "fanout": "f1"})
    assert out["dir"] == str(tmp_path / "chunks" / "r9" / "f1")
    assert chunks.render_one_chunk({"job_id": "r9", "index": 0})["dir"] == str(tmp_path / "chunks" / "r9")


def test_a_chunk_never_fails_with_a_bare_timeout_error(fake_chunk_module):
    """`FunctionCall.get(timeout=)` raises the builtin TimeoutError while a call runs: a chunk must not look like that."""

    def render_chunk(chunk, out_dir):
        raise TimeoutError("timed out reading an asset")

    fake_chunk_module.render_chunk = render_chunk
    with pytest.raises(CapabilityError) as e:
        chunks.render_one_chunk({"job_id": "r9", "index": 0, "fanout": "f1"})
    assert e.value.code == CHUNK_FAILED and e.value.retryable
    assert "TimeoutError" in e.value.message
