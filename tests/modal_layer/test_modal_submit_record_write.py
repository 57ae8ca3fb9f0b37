"""A submit whose first Dict writes fail answers a clear error and frees its admission slot.

The job record and the idempotency claim were written outside the submit's undo: a Dict
blip there (Modal's ConnectionError) reached the API as a raw 500 `internal`, and the
admission slot claimed just before stayed taken until the sweep's spawn grace; a record
too big for the Dict (`RequestSizeError`) was a 500 too. Now a failed write is a retryable
503 `modal_unavailable` (413 `payload_too_large` for a record Modal refuses for its size),
and the submit is undone: slot free, no record, the key free for the retry.

On the fake primitives; each failure is injected into the fake's Dict, no sleeps.
"""

from __future__ import annotations

import pytest
from modal.exception import ConnectionError as ModalConnectionError
from modal.exception import RequestSizeError

from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import idem_key
from modal_functions.modal_layer.fake_primitives import FakeDict, fake_backend
from modal_support import diagnostic_config

LONG = {"action": "sleep", "seconds": 30, "steps": 2}


@pytest.fixture
def backend(tmp_path):
    b = fake_backend(tmp_path / "modal", diagnostic_config(max_containers=1))
    yield b
    b.close()


def fail_once(monkeypatch, error, when):
    real_put = FakeDict.put
    failed = []

    def put(self, key, value, *, skip_if_exists=False):
        if not failed and when(str(key), value):
            failed.append(key)
            raise error
        return real_put(self, key, value, skip_if_exists=skip_if_exists)

    monkeypatch.setattr(FakeDict, "put", put)
    return failed


def the_new_record(key, value):
    return key.startswith("job:") and isinstance(value, dict) and value.get("call_id") is None


def the_key_claim(key, value):
    return key.startswith("idem:")


def jobs_left(backend):
    return [k for k in backend.p.jobs.keys() if str(k).startswith("job:")]


@pytest.mark.parametrize("when", [the_new_record, the_key_claim])
def test_a_dict_blip_while_recording_the_job_is_a_retryable_503_and_frees_the_slot(backend, monkeypatch, when):
    failed = fail_once(monkeypatch, ModalConnectionError("[Errno 104] Connection reset by peer"), when)
    with pytest.raises(CapabilityError) as e:
        backend.submit("diagnostic", LONG, idempotency_key="K")
    assert failed
    assert e.value.code == "modal_unavailable" and e.value.http_status == 503 and e.value.retryable
    assert backend._in_flight("diagnostic") == [] and jobs_left(backend) == []
    assert backend.p.jobs.get(idem_key("K")) is None and backend.p.spawned == []

    again = backend.submit("diagnostic", LONG, idempotency_key="K")  # the retry takes the freed slot
    assert again.status == JobStatus.queued
    backend.cancel(again.id)


def test_a_record_too_big_for_the_dict_is_a_413_and_frees_the_slot(backend, monkeypatch):
    fail_once(monkeypatch, RequestSizeError("Dict.put request is too large"), the_new_record)
    with pytest.raises(CapabilityError) as e:
        backend.submit("diagnostic", LONG)
    assert e.value.code == "payload_too_large" and e.value.http_status == 413 and not e.value.retryable
    assert backend._in_flight("diagnostic") == [] and jobs_left(backend) == []
