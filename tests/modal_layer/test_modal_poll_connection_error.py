"""A poll that cannot reach Modal leaves the job as it was; it does not fail it.

`FunctionCall.get` raises `modal.exception.ConnectionError` (or `ServiceError`, gRPC
UNAVAILABLE; `InternalError`, gRPC INTERNAL; `ResourceExhaustedError`, a rate limit) when
Modal's client gives up on getting an answer after its own few retries. The poll counted any such error as the call's outcome: a job still running was
written back as failed `internal` (not retryable), for good, its admission slot freed
while its call kept running, and its result, when it came, was never read.

On the fake primitives; the error is injected into the call lookup, no sleeps.
"""

from __future__ import annotations

import pytest
from modal.exception import ConnectionError as ModalConnectionError
from modal.exception import InternalError, ResourceExhaustedError, ServiceError

from modal_functions.config import default_path, load_config
from modal_functions.contract.jobs import JobStatus
from modal_functions.modal_layer.backend import job_key
from modal_functions.modal_layer.fake_primitives import fake_backend


class Unreachable:
    def __init__(self, error):
        self.error = error

    def get(self, timeout=None):
        raise self.error


@pytest.mark.parametrize("error", [ModalConnectionError("[Errno 104] Connection reset by peer"), ServiceError("unavailable"),
                                   InternalError("internal error"), ResourceExhaustedError("rate limit exceeded")])
def test_a_poll_that_cannot_reach_modal_keeps_the_job_in_flight(backend, monkeypatch, error):
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "later"})
    call = backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"])
    real_lookup = backend.p.function_call
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable(error))

    seen = backend.poll(job.id)
    assert not seen.status.terminal, seen.error
    assert backend.sweep("diagnostic") == 1 and backend._in_flight("diagnostic") == [job.id]

    monkeypatch.setattr(backend.p, "function_call", real_lookup)  # Modal is back
    assert call.join(30)
    done = backend.poll(job.id)
    assert done.status == JobStatus.succeeded and done.result["echo"] == "later"


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_call_that_answers_service_error_for_good_fails_retryably_after_the_grace(tmp_path, monkeypatch):
    """Modal re-raises a call's own remote exception as its type, on every poll: a body that died
    with a ServiceError looks like Modal unreachable forever. Past the grace it is a retryable
    failure, not a job in flight for good (its slot held, waits spinning)."""
    from modal_functions.modal_layer import backend as backend_mod

    clock = Clock()
    cfg = load_config(default_path())
    b = fake_backend(tmp_path / "modal", cfg, clock=clock)
    try:
        job = b.submit("diagnostic", {"action": "succeed", "payload": "x"})
        monkeypatch.setattr(b.p, "function_call", lambda call_id: Unreachable(ServiceError("Service temporarily unavailable")))
        assert not b.poll(job.id).status.terminal
        clock.t += backend_mod.UNREACHABLE_GRACE_S / 2
        assert not b.poll(job.id).status.terminal
        clock.t += backend_mod.UNREACHABLE_GRACE_S / 2  # asked at least every UNANSWERED_GAP_S (the sweep: every minute)
        assert not b.poll(job.id).status.terminal
        clock.t += backend_mod.UNREACHABLE_GRACE_S / 2
        failed = b.poll(job.id)
        assert failed.status == JobStatus.failed and failed.error.retryable and "ServiceError" in failed.error.message
    finally:
        b.close()


def test_a_blip_long_ago_does_not_count_against_a_new_one(tmp_path, monkeypatch):
    from modal_functions.modal_layer import backend as backend_mod

    clock = Clock()
    cfg = load_config(default_path())
    b = fake_backend(tmp_path / "modal", cfg, clock=clock)
    try:
        job = b.submit("diagnostic", {"action": "sleep", "seconds": 30})
        real_lookup = b.p.function_call
        monkeypatch.setattr(b.p, "function_call", lambda call_id: Unreachable(ServiceError("unavailable")))
        assert not b.poll(job.id).status.terminal  # a blip
        monkeypatch.setattr(b.p, "function_call", real_lookup)
        assert not b.poll(job.id).status.terminal  # Modal answers again: still running
        clock.t += backend_mod.UNREACHABLE_GRACE_S * 2
        monkeypatch.setattr(b.p, "function_call", lambda call_id: Unreachable(ServiceError("unavailable")))
        assert not b.poll(job.id).status.terminal  # a new blip starts its own grace
        b.cancel(job.id)
    finally:
        b.close()


def test_a_wait_on_an_unreachable_call_does_not_spin(tmp_path, monkeypatch):
    cfg = load_config(default_path())
    b = fake_backend(tmp_path / "modal", cfg)
    try:
        job = b.submit("diagnostic", {"action": "succeed", "payload": "x"})
        asked = []

        class Counting(Unreachable):
            def get(self, timeout=None):
                asked.append(timeout)
                raise self.error

        monkeypatch.setattr(b.p, "function_call", lambda call_id: Counting(ModalConnectionError("reset")))
        assert not b.wait(job.id, 1.5).status.terminal
        assert len(asked) <= 20, len(asked)  # paced by the wait slice (0.2 s here), not thousands of calls
    finally:
        b.close()
