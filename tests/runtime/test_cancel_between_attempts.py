"""A cancel that lands between a failed attempt and its retry ends the job `cancelled`.

The job was not over: the pool was about to run it again, and only the cancel stopped that.
Like a Modal call or a Trigger.dev run cancelled while waiting to retry, it ends cancelled,
not with the attempt's retryable error (which told the caller to run it again).
"""

from __future__ import annotations

import threading

from runtime_support import DEADLINE

from modal_functions.contract.jobs import JobStatus


def test_a_cancel_between_attempts_ends_the_job_cancelled_not_failed_retryable(make_backend):
    backend = make_backend(workers=1, retries=2)
    pool = backend.pools["diagnostic"]
    real_attempt = pool._attempt
    answers: list = []

    def attempt_then_cancel(slot, ticket):
        outcome = real_attempt(slot, ticket)
        if ticket.attempts == 1:  # attempt 1 failed retryably; the DELETE arrives before the retry
            assert outcome.pool_retryable()
            deleting = threading.Thread(target=lambda: answers.append(backend.cancel(ticket.job_id)))
            deleting.start()
            assert ticket.cancel.wait(DEADLINE)  # the pool has taken the cancel
            answers.append(deleting)
        return outcome

    pool._attempt = attempt_then_cancel
    job = backend.submit("diagnostic", {"action": "fail_transient", "transient_failures": 1})
    done = backend.wait(job.id, DEADLINE)
    answers[0].join(DEADLINE)
    assert done.status == JobStatus.cancelled, done.error
    assert done.error is not None and done.error.code == "cancelled" and done.error.retryable is False
    assert done.attempts == 1  # the retry never ran
    assert answers[1].status == JobStatus.cancelled  # what DELETE answered
