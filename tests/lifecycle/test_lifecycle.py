"""The job lifecycle, written once against `JobBackend` and run against every registered backend.

The test modal.toml (modal_functions/runtime/testing.py) gives the diagnostic kind
2 workers, a queue of 2, a 1 s stall timeout, a 3 s hard timeout and 2 retries.
Nothing here sleeps to synchronise: tests wait on `backend.wait()` / `backend.events()`
with deadlines. The only timing assertion is the issue's "killed within stall timeout
+ 1 s", measured on the job's own timestamps.
"""

from __future__ import annotations

from typing import Callable

import pytest

from modal_functions.contract.jobs import Job, JobStatus
from modal_functions.errors import CapabilityError

KIND = "diagnostic"
DEADLINE = 30.0  # generous upper bound for anything to settle; never asserted


def settle(backend, job_id: str) -> Job:
    job = backend.wait(job_id, DEADLINE)
    assert job.status.terminal, f"job {job_id} still {job.status} after {DEADLINE} s"
    return job


def until(backend, job_id: str, predicate: Callable[[Job], bool]) -> Job:
    for job in backend.events(job_id, DEADLINE):
        if predicate(job):
            return job
        if job.status.terminal:
            break
    raise AssertionError(f"job {job_id} never reached the expected state")


def running(job: Job) -> bool:
    return job.status == JobStatus.running


def submit(backend, key: str | None = None, **input) -> Job:
    return backend.submit(KIND, input, idempotency_key=key)


def test_success(backend):
    job = submit(backend, action="succeed", payload="hello")
    assert job.status in (JobStatus.queued, JobStatus.running, JobStatus.succeeded)
    done = settle(backend, job.id)
    assert done.status == JobStatus.succeeded
    assert done.result["echo"] == "hello"
    assert done.error is None
    assert done.attempts == 1
    assert done.backend in ("inhouse", "modal")
    assert done.progress.total is not None and done.progress.done == done.progress.total
    assert done.created_at <= done.started_at <= done.finished_at
    assert done.queue_seconds is not None and done.queue_seconds >= 0
    assert isinstance(done.cold_start, bool)
    assert done.cost is not None and done.cost.seconds >= 0 and done.cost.usd >= 0 and done.cost.resource
    assert backend.poll(job.id) == done
    assert backend.progress(job.id) == done.progress


def test_progress_is_reported_while_running(backend):
    job = submit(backend, action="sleep", seconds=0.8, steps=4)
    seen = [j.progress.done for j in backend.events(job.id, DEADLINE) if j.status == JobStatus.running]
    assert settle(backend, job.id).status == JobStatus.succeeded
    assert any(0 < done < 4 for done in seen), seen  # intermediate steps were visible
    assert seen == sorted(seen)


def test_non_retryable_failure_is_not_retried(backend):
    job = settle(backend, submit(backend, action="fail").id)
    assert job.status == JobStatus.failed
    assert job.error.code == "diagnostic_failure"
    assert job.error.retryable is False
    assert job.attempts == 1
    assert job.result is None


def test_transient_failure_is_retried_then_succeeds(backend):
    job = settle(backend, submit(backend, action="fail_transient", transient_failures=1).id)
    assert job.status == JobStatus.succeeded
    assert job.attempts == 2
    assert job.result["attempt"] == 2


def test_transient_failure_gives_up_after_retries(lifecycle, backend):
    retries = lifecycle.config.function(KIND).retries
    job = settle(backend, submit(backend, action="fail_transient", transient_failures=retries + 5).id)
    assert job.status == JobStatus.failed
    assert job.error.code == "transient" and job.error.retryable is True
    assert job.attempts == retries + 1


def test_worker_crash_is_retried_by_the_pool_and_the_backend_survives(lifecycle, backend):
    retries = lifecycle.config.function(KIND).retries
    job = settle(backend, submit(backend, action="crash").id)
    assert job.status == JobStatus.failed
    assert job.error.code == "worker_crashed" and job.error.retryable is True
    assert job.attempts == retries + 1
    assert settle(backend, submit(backend, action="succeed").id).status == JobStatus.succeeded


def test_stall_is_killed_within_stall_timeout_while_serving_others(lifecycle, backend):
    stall_timeout = lifecycle.config.function(KIND).stall_timeout
    stalled = submit(backend, action="stall", seconds=60)
    others: list[Job] = []
    last_sign_of_life = None
    final = None
    answered_during_stall = 0
    for job in backend.events(stalled.id, DEADLINE):
        if job.status.terminal:
            final = job
            break
        if job.status == JobStatus.running:
            last_sign_of_life = job.updated_at
            if job.progress.message == "stalling" and not others:
                # the backend keeps serving while one of its workers is silent
                others = [submit(backend, action="succeed", payload=str(i)) for i in range(3)]
                answered_during_stall += sum(backend.poll(o.id).id == o.id for o in others)
                answered_during_stall += backend.capacity()[KIND].workers > 0
    assert final is not None and others
    assert answered_during_stall == len(others) + 1
    assert final.status == JobStatus.failed
    assert final.error.code == "stalled"
    assert final.error.retryable is True
    assert final.attempts == 1  # stalls are final for this job: a fresh attempt is a new job
    assert (final.finished_at - last_sign_of_life).total_seconds() <= stall_timeout + 2  # detection within ~2 s
    served = [settle(backend, o.id) for o in others]
    assert all(o.status == JobStatus.succeeded for o in served)
    assert settle(backend, submit(backend, action="succeed").id).status == JobStatus.succeeded


def test_hard_timeout(lifecycle, backend):
    timeout = lifecycle.config.function(KIND).timeout
    job = settle(backend, submit(backend, action="sleep", seconds=timeout * 20, steps=timeout * 20).id)
    assert job.status == JobStatus.failed
    assert job.error.code == "timeout"
    assert job.error.retryable is True
    assert job.attempts == 1
    assert job.progress.done > 0  # it was heartbeating and progressing: not a stall


def test_cancel_running_job(backend):
    job = submit(backend, action="sleep", seconds=60, steps=60)
    until(backend, job.id, running)
    cancelled = backend.cancel(job.id)
    cancelled = settle(backend, job.id) if not cancelled.status.terminal else cancelled
    assert cancelled.status == JobStatus.cancelled
    assert cancelled.error is None or cancelled.error.code == "cancelled"
    assert backend.cancel(job.id).status == JobStatus.cancelled  # idempotent
    assert settle(backend, submit(backend, action="succeed").id).status == JobStatus.succeeded


def test_cancel_queued_job(lifecycle, backend):
    workers = lifecycle.config.pool(KIND).workers
    busy = [submit(backend, action="sleep", seconds=60, steps=60) for _ in range(workers)]
    queued = submit(backend, action="succeed")
    cancelled = backend.cancel(queued.id)
    cancelled = settle(backend, queued.id) if not cancelled.status.terminal else cancelled
    assert cancelled.status == JobStatus.cancelled
    assert cancelled.result is None
    for job in busy:
        backend.cancel(job.id)
    assert all(settle(backend, job.id).status == JobStatus.cancelled for job in busy)


def test_idempotent_resubmit_and_new_key(backend):
    first = submit(backend, key="order-1", action="succeed", payload="a")
    again = submit(backend, key="order-1", action="succeed", payload="a")
    assert again.id == first.id
    settle(backend, first.id)
    assert submit(backend, key="order-1", action="succeed", payload="a").id == first.id  # also once finished
    with pytest.raises(CapabilityError) as conflict:
        submit(backend, key="order-1", action="succeed", payload="b")
    assert conflict.value.code == "idempotency_conflict" and conflict.value.http_status == 409
    fresh = submit(backend, key="order-2", action="succeed", payload="a")
    assert fresh.id != first.id
    assert settle(backend, fresh.id).status == JobStatus.succeeded


def test_capacity_full_is_429_with_retry_after(lifecycle, backend):
    pool = lifecycle.config.pool(KIND)
    accepted = [submit(backend, action="sleep", seconds=60, steps=60) for _ in range(pool.workers + pool.queue)]
    assert backend.capacity()[KIND].free == 0
    with pytest.raises(CapabilityError) as full:
        submit(backend, action="succeed")
    assert full.value.code == "capacity"
    assert full.value.http_status == 429
    assert full.value.retry_after >= 1
    for job in accepted:
        backend.cancel(job.id)
    assert {settle(backend, job.id).status for job in accepted} == {JobStatus.cancelled}
    assert settle(backend, submit(backend, action="succeed").id).status == JobStatus.succeeded


def test_restart_mid_job_reports_interrupted_not_lost(lifecycle, backend):
    finished = settle(backend, submit(backend, action="succeed", payload="before").id)
    workers = lifecycle.config.pool(KIND).workers
    in_flight = [submit(backend, action="sleep", seconds=60, steps=60) for _ in range(workers)]
    for job in in_flight:
        until(backend, job.id, running)
    waiting = submit(backend, action="succeed", payload="queued")

    backend = lifecycle.crash_and_restart()

    for job in [*in_flight, waiting]:
        after = backend.poll(job.id)
        assert after.status == JobStatus.failed
        assert after.error.code == "interrupted"
        assert after.error.retryable is True
    assert backend.poll(finished.id).status == JobStatus.succeeded
    assert backend.poll(finished.id).result["echo"] == "before"
    assert settle(backend, submit(backend, action="succeed").id).status == JobStatus.succeeded


def test_bad_requests_are_coded(backend):
    with pytest.raises(CapabilityError) as bad:
        submit(backend, action="explode")
    assert bad.value.code == "validation_error" and bad.value.http_status == 422
    with pytest.raises(CapabilityError) as unknown:
        backend.submit("transcode", {})
    assert unknown.value.code == "unknown_kind" and unknown.value.http_status == 400
    with pytest.raises(CapabilityError) as missing:
        backend.poll("job_does_not_exist")
    assert missing.value.code == "not_found" and missing.value.http_status == 404
