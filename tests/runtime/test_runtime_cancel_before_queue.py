"""A cancel that lands after a job is recorded but before the pool has it still cancels the job.

`submit` records the job (visible to `poll` and `cancel` at once) and only then hands its
ticket to the pool. A DELETE in that window found the job neither queued in the pool nor
on a slot, waited for it to finish, and answered it still queued; the job then ran anyway.
"""

from __future__ import annotations

from runtime_support import DEADLINE

from modal_functions.contract.jobs import JobStatus
from modal_functions.runtime import inhouse


def test_a_cancel_before_the_pool_has_the_job_cancels_it(make_backend, monkeypatch):
    monkeypatch.setattr(inhouse, "CANCEL_WAIT_S", 0.0)  # the DELETE answers at once (202) instead of waiting
    backend = make_backend(workers=1)
    pool = backend.pools["diagnostic"]
    real_submit = pool.submit
    answers: list = []

    def cancel_then_submit(ticket):
        # The whole DELETE runs in the window: the job is recorded, the pool does not have it yet.
        answers.append(backend.cancel(ticket.job_id))
        real_submit(ticket)

    pool.submit = cancel_then_submit
    job = backend.submit("diagnostic", {"action": "succeed"})
    done = backend.wait(job.id, DEADLINE)
    assert answers[0].status != JobStatus.succeeded
    assert done.status == JobStatus.cancelled, done
    assert done.error is not None and done.error.code == "cancelled" and done.error.retryable is False
    assert done.attempts == 0  # it never ran
