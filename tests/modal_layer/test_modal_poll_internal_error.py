"""A poll that Modal's control plane answers with a gRPC INTERNAL or RESOURCE_EXHAUSTED error leaves the job as it was.

Modal's client turns gRPC INTERNAL into `modal.exception.InternalError` once its own retries
are spent, and a rate limit into `ResourceExhaustedError`: neither is the call's outcome.
The poll counted them as one: a job still running was written back as failed `internal`
(not retryable), for good, its slot freed while its call kept running (billed), and its
result, when it came, was never read. Like `ConnectionError` and `ServiceError`, they now
keep the job in flight for the unreachable grace.

On the fake primitives; the error is injected into the call lookup, no sleeps.
"""

from __future__ import annotations

import pytest
from modal.exception import InternalError, ResourceExhaustedError

from modal_functions.contract.jobs import JobStatus
from modal_functions.modal_layer.backend import job_key


class Unanswered:
    def __init__(self, error):
        self.error = error

    def get(self, timeout=None):
        raise self.error


@pytest.mark.parametrize("error", [InternalError("internal error"), ResourceExhaustedError("rate limit exceeded")])
def test_a_poll_modal_could_not_answer_keeps_the_job_in_flight(backend, monkeypatch, error):
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "later"})
    call = backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"])
    real_lookup = backend.p.function_call
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unanswered(error))

    seen = backend.poll(job.id)
    assert not seen.status.terminal, seen.error
    assert backend._in_flight("diagnostic") == [job.id]

    monkeypatch.setattr(backend.p, "function_call", real_lookup)  # Modal answers again
    assert call.join(30)
    done = backend.poll(job.id)
    assert done.status == JobStatus.succeeded and done.result["echo"] == "later"
