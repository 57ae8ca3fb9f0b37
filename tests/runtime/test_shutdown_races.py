"""Shutting down while a job is being admitted or its worker is starting: the answer and the record tell the truth.

A job the backend admitted is accepted: it is queued and, when the server stops, recorded as
failed `interrupted` (retryable), never refused after the fact with a misleading code.
"""

from __future__ import annotations

import threading

from test_pool_edges import NeverReadyWorker, one_worker_pool

from modal_functions.errors import INTERRUPTED
from modal_functions.runtime.pool import Ticket


class SpyLock:
    """The backend's submit lock, telling `pool._cond` when another thread has to wait for it."""

    def __init__(self, cond: threading.Condition):
        self._lock = threading.Lock()
        self._cond = cond
        self.waiting = False

    def __enter__(self):
        if not self._lock.acquire(blocking=False):
            with self._cond:
                self.waiting = True
                self._cond.notify_all()
            self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()


def test_a_job_admitted_while_the_server_starts_closing_is_accepted_and_then_interrupted(make_backend):
    """Before: the pool closed between the admission check and the queueing, so the POST was
    answered `429 capacity` (a spill signal: "nothing was created") while the job it had already
    recorded under the caller's idempotency key was failed behind its back."""
    backend = make_backend(workers=1, queue=2)
    pool = backend.pools["diagnostic"]
    spy = SpyLock(pool._cond)
    backend._submit_lock = spy
    closer = threading.Thread(target=backend.close, name="closer")
    check_room = pool.check_room

    def check_room_then_start_closing() -> None:
        check_room()
        closer.start()
        with pool._cond:  # until the close has gone as far as it can while this submit runs
            pool._cond.wait_for(lambda: pool._closing or spy.waiting)

    pool.check_room = check_room_then_start_closing
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 600, "steps": 600}, idempotency_key="closing-1")
    closer.join(30)
    assert not closer.is_alive()

    again = make_backend()  # the same data dir: what the registry says after the stop
    found = again.find_by_idempotency_key("closing-1")
    assert found is not None and found.id == job.id
    assert found.status.value == "failed" and found.error is not None
    assert (found.error.code, found.error.retryable) == (INTERRUPTED, True)


def test_a_job_whose_cold_worker_was_starting_at_shutdown_is_interrupted_not_a_crash(tmp_path):
    """Before: the slot gave up waiting for the worker because the pool closed, and the job
    ended `worker_crashed` ("the worker process died: ... pool closing")."""
    with one_worker_pool(tmp_path, NeverReadyWorker, timeout=60, queue=1) as (pool, hooks):
        pool.submit(Ticket(job_id="job_cold_at_shutdown", kind="diagnostic", input={}))
        assert hooks.started.wait(30)
        pool.close(timeout=30)
        assert hooks.finished.wait(30)
        outcome = hooks.outcomes[0]
        assert outcome.status == "failed" and outcome.error is not None
        assert (outcome.error["code"], outcome.error["retryable"]) == (INTERRUPTED, True)
