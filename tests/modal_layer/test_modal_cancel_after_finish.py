"""DELETE of a job whose call has already returned answers the finished job, unchanged.

The HTTP contract (`DELETE /v1/jobs/{id}`: "`cancelled` by this request, or finished before
it (returned unchanged)") and in-house both do that. On Modal the record only learns the
outcome when someone polls; a cancel read the record alone, so a job that had succeeded
but was not polled yet was marked `cancelled` and its result thrown away.

On the fake primitives; the call is joined (not slept on) before the cancel.
"""

from __future__ import annotations


from modal_functions.contract.jobs import JobStatus
from modal_functions.modal_layer.backend import job_key


def test_cancelling_a_job_that_finished_unpolled_returns_its_result(backend):
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "kept"})
    assert backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"]).join(30)  # done; nobody polled

    answer = backend.cancel(job.id)

    assert answer.status == JobStatus.succeeded and answer.result["echo"] == "kept"
    assert backend.poll(job.id) == answer
    assert backend._in_flight("diagnostic") == []


def test_cancelling_a_running_job_still_cancels_it(backend):
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 30, "steps": 2})
    answer = backend.cancel(job.id)
    assert answer.status == JobStatus.cancelled and answer.error.code == "cancelled"
    assert backend.poll(job.id).status == JobStatus.cancelled
    assert backend._in_flight("diagnostic") == []
