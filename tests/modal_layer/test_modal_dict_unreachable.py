"""A jobs Dict that Modal cannot reach for a moment is a retryable 503 `modal_unavailable`, never a raw 500.

Only a failure while recording a submitted job was mapped; every other read or write of the
Dicts (a poll, a cancel, a long-poll, progress, the idempotency lookup, a submit's first key
read or its admission claim) let Modal's `ConnectionError` reach the API, which answered
500 `internal` ("see the server log") to an outage that is not a bug of ours and that a
retry gets through (capacity and warm leases alike). Nothing is lost either way: the job is as it was once the Dict answers.

On the fake primitives; the failures are injected into the fake's Dict, no sleeps.
"""

from __future__ import annotations

import pytest
from modal.exception import ConnectionError as ModalConnectionError
from modal.exception import ResourceExhaustedError, ServiceError

from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.fake_primitives import FakeDict

LONG = {"action": "sleep", "seconds": 30, "steps": 2}


@pytest.fixture
def job(backend):
    j = backend.submit("diagnostic", LONG, idempotency_key="K")
    yield j
    backend.cancel(j.id)


def dict_down(monkeypatch, error):
    """Every Dict read and write fails, as while Modal's Dict service cannot be reached."""

    def fail(*args, **kwargs):
        raise error

    for name in ("get", "put", "pop", "keys", "items"):
        monkeypatch.setattr(FakeDict, name, fail)


def assert_unavailable(call):
    with pytest.raises(CapabilityError) as e:
        call()
    assert e.value.code == "modal_unavailable", e.value
    assert e.value.http_status == 503 and e.value.retryable


OPS = {
    "poll": lambda b, j: b.poll(j.id),
    "cancel": lambda b, j: b.cancel(j.id),
    "wait": lambda b, j: b.wait(j.id, 0.0),
    "progress": lambda b, j: b.progress(j.id),
    "events": lambda b, j: next(b.events(j.id, 0.0)),
    "find_by_idempotency_key": lambda b, j: b.find_by_idempotency_key("K"),
    "replayed submit": lambda b, j: b.submit("diagnostic", LONG, idempotency_key="K"),
    "new submit": lambda b, j: b.submit("diagnostic", LONG),
    "capacity": lambda b, j: b.capacity(),
    "warm": lambda b, j: b.warm(["diagnostic"], 60),
}


@pytest.mark.parametrize("error", [ModalConnectionError("Could not connect to the Modal server."),
                                   ServiceError("UNAVAILABLE"), ResourceExhaustedError("rate limited")],
                         ids=["connection", "service", "rate_limited"])
@pytest.mark.parametrize("op", list(OPS))
def test_a_dict_modal_cannot_reach_is_a_retryable_503(backend, job, monkeypatch, op, error):
    with monkeypatch.context() as m:
        dict_down(m, error)
        assert_unavailable(lambda: OPS[op](backend, job))
    # Modal answers again: the job is as it was, and only it is in flight.
    assert backend.poll(job.id).status in (JobStatus.queued, JobStatus.running)
    assert backend._in_flight("diagnostic") == [job.id]


def test_a_dict_down_while_claiming_the_admission_slot_is_a_503_that_keeps_nothing(backend, monkeypatch):
    real_put = FakeDict.put

    def put(self, key, value, *, skip_if_exists=False):
        if str(key).startswith("diagnostic:slot"):
            raise ModalConnectionError("Could not connect to the Modal server.")
        return real_put(self, key, value, skip_if_exists=skip_if_exists)

    with monkeypatch.context() as m:
        m.setattr(FakeDict, "put", put)
        assert_unavailable(lambda: backend.submit("diagnostic", LONG, idempotency_key="N"))
    assert backend._in_flight("diagnostic") == [] and backend.p.spawned == []
    assert backend.find_by_idempotency_key("N") is None
