"""KindPool edges driven by a stand-in worker process (no real worker needed to hit them)."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from runtime_support import eventually

from modal_functions.config import load_config
from modal_functions.runtime.pool import KindPool, Ticket
from modal_functions.runtime.tempdirs import TempDirs
from modal_functions.runtime.testing import write_config


class ChattyWorker:
    """A worker process stand-in that sends a heartbeat every 10 ms once a job runs (faster
    than the pool's poll interval) and never finishes."""

    pid = 999_999

    def __init__(self, kind, init):
        self.inbox = [("ready", self.pid)]
        self.running = False

    def send(self, message):
        self.running = self.running or message[0] in ("run", "part")

    def poll(self, timeout):
        import time

        if not self.inbox:
            time.sleep(0.01 if self.running else timeout)  # the worker's cadence, not a synchronisation
            if self.running:
                self.inbox.append(("hb",))
        return bool(self.inbox)

    def recv(self):
        return self.inbox.pop(0)

    def alive(self):
        return True

    def kill(self):
        self.running = False

    def stop(self, grace=2.0):
        self.running = False


class Recorder:
    """The pool's hooks: when a job started, and how it ended."""

    def __init__(self):
        self.started, self.finished, self.outcomes = threading.Event(), threading.Event(), []

    def on_start(self, ticket):
        self.started.set()

    def on_progress(self, ticket, progress):
        pass

    def on_finish(self, ticket, outcome):
        self.outcomes.append(outcome)
        self.finished.set()


@contextmanager
def one_worker_pool(tmp_path, spawn, *, timeout: float, queue: int):
    cfg = load_config(write_config(tmp_path / "modal.toml", functions={"diagnostic": {"timeout": timeout, "stall_timeout": timeout / 2, "retries": 0}},
                                   inhouse={"diagnostic": {"workers": 1, "queue": queue, "preload": False}}))
    hooks = Recorder()
    pool = KindPool("diagnostic", cfg.pool("diagnostic"), cfg.function("diagnostic"), hooks, TempDirs(tmp_path / "tmp"), {},
                    poll_interval=0.05, spawn=spawn)
    pool.start()
    try:
        yield pool, hooks
    finally:
        pool.close(timeout=2)


class NeverReadyWorker(ChattyWorker):
    """A cold worker whose imports take forever: it never says ready."""

    def __init__(self, kind, init):
        super().__init__(kind, init)
        self.inbox = []


def test_a_worker_chatting_faster_than_the_poll_interval_still_times_out(tmp_path):
    with one_worker_pool(tmp_path, ChattyWorker, timeout=1, queue=1) as (pool, hooks):
        pool.submit(Ticket(job_id="job_chatty", kind="diagnostic", input={}))
        assert hooks.finished.wait(30), "the hard timeout never fired"
        assert hooks.outcomes[0].status == "failed" and hooks.outcomes[0].error["code"] == "timeout"


def test_an_admitted_job_is_queued_even_if_parts_filled_the_pool_since_its_check(tmp_path):
    """The backend records the job between `check_room` and `submit`; parts of a running job
    may take the room meanwhile. Refusing then answered 429 for a job already recorded."""
    from modal_functions.errors import CapabilityError

    with one_worker_pool(tmp_path, ChattyWorker, timeout=60, queue=0) as (pool, _):
        running = Ticket(job_id="job_running", kind="diagnostic", input={})
        pool.submit(running)
        eventually(lambda: pool.idle_workers() == 0)
        pool.submit_parts(running, lambda *a: None, [{"piece": 1}])  # the room is gone now
        with pytest.raises(CapabilityError):
            pool.check_room()
        pool.submit(Ticket(job_id="job_admitted", kind="diagnostic", input={}))  # admitted before: queued, not refused


def test_cancel_while_a_cold_worker_starts_ends_the_job_at_once(tmp_path):
    """The slot waited for the worker (up to 120 s) and only then noticed the cancel."""
    with one_worker_pool(tmp_path, NeverReadyWorker, timeout=60, queue=1) as (pool, hooks):
        pool.submit(Ticket(job_id="job_cold", kind="diagnostic", input={}))
        assert hooks.started.wait(30)
        assert pool.cancel("job_cold") == "signalled"
        assert hooks.finished.wait(30)
        assert hooks.outcomes[0].status == "cancelled"
