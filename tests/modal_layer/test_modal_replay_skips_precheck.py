"""On Modal too, a resubmit with a known idempotency key answers its job even when the input's
refs no longer pass the submit-time precheck (the in-house twin: tests/runtime/
test_runtime_replay_skips_precheck.py).

The precheck reads the world as it is now: an input removed by retention, a signed URL
expired since, a store unreachable. `ModalBackend.submit` ran it before looking the key up,
so a caller retrying a submit whose answer it lost was refused, and never learned about the
job it had."""

from __future__ import annotations

import dataclasses

import pytest

import modal_functions.capabilities as capabilities
import modal_functions.storage.inputs as inputs
from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError


@pytest.fixture
def precheck(monkeypatch):
    """The diagnostic kind with its `payload` as an input ref, and a precheck the test can turn to refusing."""
    real = capabilities.get_capability

    def with_refs(kind):
        capability = real(kind)
        if kind != "diagnostic":
            return capability
        return dataclasses.replace(capability, refs=lambda request: {request.payload: "payload"})

    monkeypatch.setattr(capabilities, "get_capability", with_refs)
    state = {"refuse": False, "calls": 0}

    def fake_precheck(refs, settings=None):
        state["calls"] += 1
        if state["refuse"]:
            raise CapabilityError("artifact_not_found", f"{sorted(refs)} is gone", http_status=422)

    monkeypatch.setattr(inputs, "precheck_request", fake_precheck)
    return state


def test_a_replay_whose_input_is_gone_since_answers_the_job(backend, precheck):
    body = {"action": "succeed", "payload": "artifacts/in.wav"}
    job = backend.submit("diagnostic", body, idempotency_key="modal-replay")
    assert precheck["calls"] == 1  # a new job is prechecked
    assert backend.wait(job.id, 30).status == JobStatus.succeeded

    precheck["refuse"] = True  # retention removed the input since
    with pytest.raises(CapabilityError) as refused:  # a new job with it is still refused
        backend.submit("diagnostic", body, idempotency_key="a-new-key")
    assert refused.value.code == "artifact_not_found"

    replay = backend.submit("diagnostic", body, idempotency_key="modal-replay")
    assert replay.id == job.id and replay.status == JobStatus.succeeded


def test_a_replay_with_other_input_is_still_a_409(backend, precheck):
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "artifacts/a.wav"}, idempotency_key="k")
    backend.wait(job.id, 30)
    precheck["refuse"] = True
    with pytest.raises(CapabilityError) as conflict:
        backend.submit("diagnostic", {"action": "succeed", "payload": "artifacts/b.wav"}, idempotency_key="k")
    assert conflict.value.code == "idempotency_conflict"
