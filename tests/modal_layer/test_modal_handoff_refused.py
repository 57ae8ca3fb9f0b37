"""A Whisper hand-off that Modal refuses on every try must end, not hold its slot forever.

An unsized transcribe job measured long is respawned on the GPU class by whoever polls
it (or the minute sweep). When that spawn failed, the hand-off claim was dropped so the
next poll could try again, and the job stayed queued: every poll answered 503, the
sweep counted it in flight, and if Modal kept refusing (the GPU class gone after a
redeploy, an input it will not take) the job never ended and its admission slot was
taken for good: the kind's capacity shrank by one per such job, until it took nothing
but 429s. Now the refusals are bounded like an unreachable poll: past HANDOFF_GRACE_S
of refused hand-offs the job fails, retryable, with `modal_unavailable`, and its slot is
freed.

On the fake primitives with a hand-moved clock; each fake call is joined before it is observed.
"""

from __future__ import annotations

import pytest

from modal_functions.config import default_path, load_config
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import HANDOFF_GRACE_S, ModalBackend, job_key
from modal_functions.modal_layer.fake_primitives import FakePrimitives
from modal_functions.runtime.capacity import CapacityFull


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _wants_gpu(job):
    return {"ok": False, "handoff": "Transcriber"}


def _gpu(job):
    return {"ok": True, "result": {"on": "gpu"}, "seconds": 1.0, "resource": "A10G", "attempt": 1}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def backend(tmp_path, clock):
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    functions["transcribe_audio"] = functions["transcribe_audio"].model_copy(update={"max_containers": 1})
    p = FakePrimitives(tmp_path / "modal", {"TranscriberCPU": (_wants_gpu, 0), "Transcriber": (_gpu, 0)})
    b = ModalBackend(cfg.model_copy(update={"functions": functions}), p, clock=clock, wait_slice=0.2)
    yield b
    b.close()


@pytest.fixture
def refused(backend):
    """A transcribe job measured long whose GPU spawn Modal refuses every time."""
    job = backend.submit("transcribe_audio", {"audio": "https://example.com/long.wav"})
    assert backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"]).join(30)
    tries = []

    def spawn_refused(*args):
        tries.append(args)
        raise ConnectionError("Modal refused the spawn")

    backend.p.function("Transcriber").spawn = spawn_refused
    return job, tries


def _refused_poll(backend, job_id):
    with pytest.raises(CapabilityError) as e:
        backend.poll(job_id)
    assert e.value.code == "modal_unavailable" and e.value.http_status == 503


def test_a_hand_off_refused_past_the_grace_fails_the_job_and_frees_its_slot(backend, clock, refused):
    job, tries = refused
    _refused_poll(backend, job.id)
    clock.now += HANDOFF_GRACE_S / 2
    _refused_poll(backend, job.id)  # within the grace: still queued, ask again later

    clock.now += HANDOFF_GRACE_S
    ended = backend.poll(job.id)
    assert ended.status.value == "failed"
    assert ended.error.code == "modal_unavailable" and ended.error.retryable
    assert "Transcriber" in ended.error.message
    assert backend._in_flight("transcribe_audio") == []
    assert backend.poll(job.id) == ended  # settled: no more spawn tries
    assert len(tries) == 3  # the poll past the grace asks Modal once more before it gives up


def test_the_minute_sweep_alone_ends_a_refused_hand_off(backend, clock, refused):
    job, _ = refused
    assert backend.sweep("transcribe_audio") == 1  # first refusal: still in flight
    clock.now += HANDOFF_GRACE_S + 1
    assert backend.sweep("transcribe_audio") == 0
    assert backend.poll(job.id).error.code == "modal_unavailable"
    # The kind takes a new job again (it held its only slot before).
    backend.p.function("TranscriberCPU").target = _gpu
    again = backend.submit("transcribe_audio", {"audio": "https://example.com/next.wav"})
    assert again.status.value == "queued"


def test_a_refusal_then_a_spawn_that_works_is_a_normal_hand_off(backend, clock, refused):
    job, _ = refused
    _refused_poll(backend, job.id)
    clock.now += HANDOFF_GRACE_S / 2
    del backend.p.function("Transcriber").spawn  # Modal takes it again
    handed = backend.poll(job.id)
    assert handed.status.value == "queued"
    rec = backend.p.jobs[job_key(job.id)]
    assert rec["object"] == "Transcriber"
    assert backend.p.function_call(rec["call_id"]).join(30)
    # Much later, an earlier refusal does not end the job that was handed off.
    clock.now += 10 * HANDOFF_GRACE_S
    assert backend.poll(job.id).status.value == "succeeded"


def test_a_full_kind_is_still_429_while_the_refusals_are_within_the_grace(backend, refused):
    with pytest.raises(CapacityFull):
        backend.submit("transcribe_audio", {"audio": "https://example.com/other.wav"})
