"""A resubmit with a known idempotency key answers its job, even when the input's refs no longer pass the precheck.

The submit-time precheck (`storage.inputs.precheck_request`) reads the world as it is now:
an artifact the retention cleanup has since removed, a signed URL that has since expired,
a store that cannot be reached. A job accepted under a key is the answer to every resubmit
with that key and input ("same key + same input: same job"), whatever happened to its
inputs since; before the fix the replay was refused (422 `artifact_not_found`, 403
`signature_expired`, 503 `storage_unavailable`) and the caller, told the submission failed,
never learned about the job it had.
"""

from __future__ import annotations

import dataclasses

import pytest

from modal_functions.capabilities import get_capability
from modal_functions.errors import CapabilityError
from modal_functions.runtime import inhouse
from modal_functions.storage import get_store

DEADLINE = 30.0


@pytest.fixture
def payload_is_a_ref(monkeypatch):
    """The diagnostic kind, with its `payload` checked as an input reference at submission
    (as align's audio and render's assets are). The worker processes run it unchanged."""
    real = inhouse._capability

    def with_refs(kind):
        capability = real(kind)
        return dataclasses.replace(capability, refs=lambda request: {request.payload: "payload"})

    monkeypatch.setattr(inhouse, "_capability", with_refs)
    get_capability("diagnostic")


def stored_input(backend, tmp_path):
    """The backend's store, and a file put in it: an input artifact a job can reference."""
    store = get_store(backend.settings)
    src = tmp_path / "audio.bin"
    src.write_bytes(b"narration")
    return store, store.put_file(src, "wav")


def test_a_replay_whose_input_artifact_was_removed_since_answers_the_job(make_backend, payload_is_a_ref, tmp_path):
    backend = make_backend()
    store, ref = stored_input(backend, tmp_path)
    body = {"action": "succeed", "payload": ref.key}

    job = backend.submit("diagnostic", body, idempotency_key="replay-after-retention")
    assert backend.wait(job.id, DEADLINE).status.value == "succeeded"

    store.path_for(ref.key).unlink()  # retention cleanup removed the input since
    with pytest.raises(CapabilityError) as refused:  # a new job with that input is refused, as before
        backend.submit("diagnostic", body, idempotency_key="a-new-key")
    assert refused.value.code == "artifact_not_found"

    replay = backend.submit("diagnostic", body, idempotency_key="replay-after-retention")
    assert replay.id == job.id
    assert replay.status.value == "succeeded"


def test_a_replay_with_other_input_is_still_a_409(make_backend, payload_is_a_ref, tmp_path):
    backend = make_backend()
    _, ref = stored_input(backend, tmp_path)
    job = backend.submit("diagnostic", {"action": "succeed", "payload": ref.key}, idempotency_key="k")
    backend.wait(job.id, DEADLINE)
    with pytest.raises(CapabilityError) as conflict:
        backend.submit("diagnostic", {"action": "succeed", "payload": "artifacts/sha256/00/" + "0" * 64 + ".wav"}, idempotency_key="k")
    assert conflict.value.code == "idempotency_conflict"
