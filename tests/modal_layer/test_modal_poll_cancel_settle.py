"""A poll that saw the call's result and a cancel racing it settle the job once, alike.

Both read the record (not yet terminal), then each wrote its own ending: the cancel
answered `cancelled` while the record ended `succeeded` (or the poll answered `succeeded`
while the record said `cancelled`), so the caller and every later poll disagreed about
how the job ended. The first ending claimed (`end:<job_id>`, `put(skip_if_exists=True)`)
now stands, and whoever loses answers it.

On the fake primitives; the interleaving is forced with events and a hook in the fake's
Dict, never with sleeps.
"""

from __future__ import annotations

import threading

import pytest

from modal_functions.contract.jobs import JobStatus
from modal_functions.modal_layer.backend import end_key, job_key
from modal_functions.modal_layer.fake_primitives import FakeDict

LONG = {"action": "sleep", "seconds": 30, "steps": 2}
RESULT = {"ok": True, "result": {"echo": "done"}, "seconds": 1.0, "attempt": 1}


class Call:
    """A call that is still running when the cancel asks, and has returned when the poll asks."""

    def __init__(self):
        self.answers = [TimeoutError(), RESULT]
        self.cancelled = False

    def get(self, timeout=None):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def cancel(self, terminate_containers=False):
        self.cancelled = True


def status_of(backend, job_id):
    return JobStatus(backend.p.jobs[job_key(job_id)]["job"]["status"])


@pytest.mark.parametrize("first", ["cancel", "poll"])
def test_a_cancel_racing_a_poll_that_saw_the_result_settles_the_job_once(backend, monkeypatch, first):
    job = backend.submit("diagnostic", LONG)
    call = Call()
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: call)

    real_put = FakeDict.put
    cancel_ending, poll_writes, cancel_done = threading.Event(), threading.Event(), threading.Event()
    canceller: list[threading.Thread] = []

    def put(self, key, value, *, skip_if_exists=False):
        me = threading.current_thread()
        if me is canceller[0] and key == end_key(job.id) and not cancel_ending.is_set():
            cancel_ending.set()  # the cancel saw the call running and is about to end the job
            assert poll_writes.wait(30)
        if me is not canceller[0] and str(key) in (end_key(job.id), job_key(job.id)) and not poll_writes.is_set():
            # the poll saw the result and read a record that is not terminal yet
            if first == "cancel":
                poll_writes.set()
                assert cancel_done.wait(30)  # the cancel ends the job meanwhile
            else:
                out = real_put(self, key, value, skip_if_exists=skip_if_exists)
                poll_writes.set()
                return out
        return real_put(self, key, value, skip_if_exists=skip_if_exists)

    monkeypatch.setattr(FakeDict, "put", put)
    answers = {}

    def cancel():
        answers["cancel"] = backend.cancel(job.id)
        cancel_done.set()

    t = threading.Thread(target=cancel)
    canceller.append(t)
    t.start()
    assert cancel_ending.wait(30)
    answers["poll"] = backend.poll(job.id)
    t.join(30)
    assert not t.is_alive()

    stored = status_of(backend, job.id)
    assert answers["cancel"].status == answers["poll"].status == stored, (answers, stored)
    assert backend.poll(job.id).status == stored
    assert backend._in_flight("diagnostic") == []
