"""A hand-off whose new call cannot be recorded does not leave that call running untracked.

A job measured long is respawned on the GPU class, then the new call id is stored in the
job's record (`_attach`). When that store failed (Modal's Dict unreachable for a moment),
the spawned GPU call ran on with nobody knowing its id, and the hand-off claim stayed:
every later poll found the claim and the record still naming the measuring call, and after
SPAWN_GRACE_S failed the job `interrupted` while the orphan GPU call ran (billed) to its
end. Now a call the record does not name is cancelled and the claim dropped, so the next
poll hands the job off again; the poll itself answers a retryable 503.

On the fake primitives with a hand-moved clock; each fake call is joined before it is observed.
"""

from __future__ import annotations

import pytest
from modal.exception import ConnectionError as ModalConnectionError

from modal_functions.config import default_path, load_config
from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import ModalBackend, handoff_key, job_key
from modal_functions.modal_layer.fake_primitives import FakeDict, FakePrimitives


def _wants_gpu(job):
    return {"ok": False, "handoff": "Transcriber"}


def _gpu(job):
    return {"ok": True, "result": {"on": "gpu"}, "seconds": 1.0, "resource": "A10G", "attempt": 1}


@pytest.fixture
def backend(tmp_path):
    cfg = load_config(default_path())
    p = FakePrimitives(tmp_path / "modal", {"TranscriberCPU": (_wants_gpu, 0), "Transcriber": (_gpu, 0)})
    b = ModalBackend(cfg, p, wait_slice=0.2)
    yield b
    b.close()


def test_a_hand_off_whose_call_is_not_recorded_cancels_it_and_is_tried_again(backend, monkeypatch):
    job = backend.submit("transcribe_audio", {"audio": "https://example.com/long.wav"})
    assert backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"]).join(30)

    real_setitem = FakeDict.__setitem__

    def record_write_fails(self, key, value):
        if str(key) == job_key(job.id) and isinstance(value, dict) and value.get("object") == "Transcriber":
            raise ModalConnectionError("Could not connect to the Modal server.")
        return real_setitem(self, key, value)

    with monkeypatch.context() as m:
        m.setattr(FakeDict, "__setitem__", record_write_fails)
        with pytest.raises(CapabilityError) as e:
            backend.poll(job.id)
    assert e.value.code == "modal_unavailable" and e.value.http_status == 503 and e.value.retryable

    (orphan,) = [c for c in backend.p._calls.values() if c._target is _gpu]
    assert orphan._cancelled  # not left running with nobody knowing its id
    assert backend.p.jobs.get(handoff_key(job.id)) is None  # the next poll hands it off again

    handed = backend.poll(job.id)
    assert not handed.status.terminal
    new_call = backend.p.jobs[job_key(job.id)]["call_id"]
    assert new_call != orphan.object_id and backend.p.function_call(new_call).join(30)
    done = backend.poll(job.id)
    assert done.status == JobStatus.succeeded and done.result == {"on": "gpu"}
