"""One in-flight job whose check fails must not stop the admission sweep for the others.

The sweep (the minute tick, and a submit finding its kind full) polls every job holding
an admission slot. If observing one of them raised (here: an unsized Whisper job measured
long, whose hand-off spawn on the GPU class fails), the whole sweep stopped: the tick left
the other jobs' finished slots taken, and a submit at capacity got that raw error (a 500
`internal`) instead of 429 `capacity`. And a poll of that job answered the raw error too,
where a failed spawn is a retryable 503 `modal_unavailable`, as in submit.

On the fake primitives; no sleeps: each fake call is joined before it is observed.
"""

from __future__ import annotations

import pytest

from modal_functions.config import default_path, load_config
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import ModalBackend, job_key
from modal_functions.modal_layer.fake_primitives import FakePrimitives
from modal_functions.runtime.capacity import CapacityFull


def _wants_gpu(job):
    return {"ok": False, "handoff": "Transcriber"}


def _gpu(job):
    return {"ok": True, "result": {"on": "gpu"}, "seconds": 1.0, "resource": "A10G", "attempt": 1}


def _done(job):
    return {"ok": True, "result": {"echo": "done"}, "seconds": 0.1, "resource": "cpu:0.25", "attempt": 1}


@pytest.fixture
def backend(tmp_path):
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    functions["transcribe_audio"] = functions["transcribe_audio"].model_copy(update={"max_containers": 1})
    p = FakePrimitives(tmp_path / "modal", {"TranscriberCPU": (_wants_gpu, 0), "Transcriber": (_gpu, 0), "diagnostic": (_done, 0)})
    b = ModalBackend(cfg.model_copy(update={"functions": functions}), p, wait_slice=0.2)
    yield b
    b.close()


def joined(backend, job):
    assert backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"]).join(30)


@pytest.fixture
def stuck_handoff(backend):
    """A transcribe job measured long whose GPU spawn keeps failing (e.g. no GPU capacity)."""
    job = backend.submit("transcribe_audio", {"audio": "https://example.com/long.wav"})
    joined(backend, job)

    def gpu_spawn_fails(*args):
        raise ConnectionError("Modal refused the spawn")

    backend.p.function("Transcriber").spawn = gpu_spawn_fails
    return job


def test_the_sweep_frees_finished_slots_past_a_job_whose_check_fails(backend, stuck_handoff):
    done = backend.submit("diagnostic", {"action": "succeed", "payload": "x"})
    joined(backend, done)
    assert backend._in_flight("diagnostic") == [done.id]

    assert backend.sweep() == 1  # the stuck job is still in flight
    assert backend._in_flight("diagnostic") == []
    assert backend._in_flight("transcribe_audio") == [stuck_handoff.id]


def test_a_submit_at_capacity_is_429_even_when_a_job_in_flight_cannot_be_checked(backend, stuck_handoff):
    with pytest.raises(CapacityFull):
        backend.submit("transcribe_audio", {"audio": "https://example.com/other.wav"})


def test_a_poll_whose_hand_off_cannot_spawn_is_a_retryable_503(backend, stuck_handoff):
    with pytest.raises(CapabilityError) as failed:
        backend.poll(stuck_handoff.id)
    assert failed.value.code == "modal_unavailable" and failed.value.retryable and failed.value.http_status == 503
    assert not backend.p.jobs.get(f"handoff:{stuck_handoff.id}")  # the next poll tries again
