"""A job's progress never steps back when the pool runs it again (runtime/inhouse.py `on_progress`).

An attempt that fails retryably half way is run again from the start, and the new attempt counts
up from zero: a client polling the job saw its bar jump back (60% -> 10%). The job's progress
holds at the high-water mark of its earlier attempts until the new attempt passes it (the new
`attempts` count shows the retry meanwhile), as render holds it for a retried chunk."""

from __future__ import annotations

import threading

from runtime_support import DEADLINE

from modal_functions.contract.jobs import Job, JobStatus, Progress
from modal_functions.runtime.pool import Outcome

HALF_WAY = Progress(done=6, total=10, unit="steps", message="step 6/10")


def _fraction(p: Progress) -> float:
    return p.done / p.total if p.total else 0.0


def test_a_retried_job_holds_its_progress_until_the_new_attempt_passes_it(make_backend):
    backend = make_backend(workers=1, retries=2)
    pool = backend.pools["diagnostic"]
    real_attempt = pool._attempt
    seen: list[tuple[int, Progress]] = []
    lock = threading.Lock()

    def record(job: Job) -> None:
        if job.status == JobStatus.running:
            with lock:
                seen.append((job.attempts, job.progress))

    def first_fails_half_way(slot, ticket):
        if ticket.attempts == 1:
            # The capability's first attempt: it reports 6 of 10 steps (as the worker's pipe does), then fails retryably.
            pool._hook("on_progress", ticket, HALF_WAY)
            return Outcome("failed", error={"code": "transient", "message": "a blip half way", "retryable": True})
        return real_attempt(slot, ticket)  # the real worker: 1/10 first, then on to 10/10

    pool._attempt = first_fails_half_way
    backend.add_listener(record)
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 0, "steps": 10})
    done = backend.wait(job.id, DEADLINE)
    assert done.status == JobStatus.succeeded, done.error
    assert done.attempts == 2

    fractions = [_fraction(p) for _, p in seen]
    assert (1, HALF_WAY) in seen
    assert all(b >= a for a, b in zip(fractions, fractions[1:])), [(n, p.done, p.total, p.message) for n, p in seen]
    # The retry shows as soon as it starts (its attempt count), its progress once past 6/10 ...
    assert (2, HALF_WAY) in seen
    assert any(n == 2 and p != HALF_WAY and _fraction(p) > 0.6 for n, p in seen)
    # ... and its own stage and message then, as the capability reported them.
    assert done.progress == Progress(done=10, total=10, unit="steps", message="step 10/10")


def test_a_first_attempt_shows_its_progress_as_it_comes(make_backend):
    """The hold is for an earlier attempt's mark only: a first attempt's progress is shown as reported."""
    backend = make_backend(workers=1)
    seen: list[Progress] = []
    backend.add_listener(lambda job: seen.append(job.progress) if job.status == JobStatus.running else None)
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 0, "steps": 4})
    done = backend.wait(job.id, DEADLINE)
    assert done.status == JobStatus.succeeded, done.error
    assert Progress(done=1, total=4, unit="steps", message="step 1/4") in seen
