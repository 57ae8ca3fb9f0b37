"""KindPool edges driven by a stand-in worker process (no real worker needed to hit them)."""

from __future__ import annotations

import threading

import pytest
from runtime_support import eventually


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


def test_a_worker_chatting_faster_than_the_poll_interval_still_times_out(tmp_path):
    from modal_functions.config import load_config
    from modal_functions.runtime.pool import KindPool, Ticket
    from modal_functions.runtime.tempdirs import TempDirs
    from modal_functions.runtime.testing import write_config

    cfg = load_config(write_config(tmp_path / "modal.toml", functions={"diagnostic": {"timeout": 1, "stall_timeout": 0.5, "retries": 0}},
                                   inhouse={"diagnostic": {"workers": 1, "queue": 1, "preload": False}}))
    finished, outcomes = threading.Event(), []

    class Hooks:
        def on_start(self, ticket): pass
        def on_progress(self, ticket, progress): pass
        def on_finish(self, ticket, outcome):
            outcomes.append(outcome)
            finished.set()

    pool = KindPool("diagnostic", cfg.pool("diagnostic"), cfg.function("diagnostic"), Hooks(), TempDirs(tmp_path / "tmp"), {},
                    poll_interval=0.05, spawn=ChattyWorker)
    pool.start()
    try:
        pool.submit(Ticket(job_id="job_chatty", kind="diagnostic", input={}))
        assert finished.wait(30), "the hard timeout never fired"
        assert outcomes[0].status == "failed" and outcomes[0].error["code"] == "timeout"
    finally:
        pool.close(timeout=2)


def test_an_admitted_job_is_queued_even_if_parts_filled_the_pool_since_its_check(tmp_path):
    """The backend records the job between `check_room` and `submit`; parts of a running job
    may take the room meanwhile. Refusing then answered 429 for a job already recorded."""
    from modal_functions.config import load_config
    from modal_functions.errors import CapabilityError
    from modal_functions.runtime.pool import KindPool, Ticket
    from modal_functions.runtime.tempdirs import TempDirs
    from modal_functions.runtime.testing import write_config

    cfg = load_config(write_config(tmp_path / "modal.toml", functions={"diagnostic": {"timeout": 60, "stall_timeout": 30, "retries": 0}},
                                   inhouse={"diagnostic": {"workers": 1, "queue": 0, "preload": False}}))

    class Hooks:
        def on_start(self, ticket): pass
        def on_progress(self, ticket, progress): pass
        def on_finish(self, ticket, outcome): pass

    pool = KindPool("diagnostic", cfg.pool("diagnostic"), cfg.function("diagnostic"), Hooks(), TempDirs(tmp_path / "tmp"), {},
                    poll_interval=0.05, spawn=ChattyWorker)
    pool.start()
    try:
        running = Ticket(job_id="job_running", kind="diagnostic", input={})
        pool.submit(running)
        eventually(lambda: pool.idle_workers() == 0)
        pool.submit_parts(running, lambda *a: None, [{"piece": 1}])  # the room is gone now
        with pytest.raises(CapabilityError):
            pool.check_room()
        pool.submit(Ticket(job_id="job_admitted", kind="diagnostic", input={}))  # admitted before: queued, not refused
    finally:
        pool.close(timeout=2)


class NeverReadyWorker(ChattyWorker):
    """A cold worker whose imports take forever: it never says ready."""

    def __init__(self, kind, init):
        super().__init__(kind, init)
        self.inbox = []


def test_cancel_while_a_cold_worker_starts_ends_the_job_at_once(tmp_path):
    """The slot waited for the worker (up to 120 s) and only then noticed the cancel."""
    from modal_functions.config import load_config
    from modal_functions.runtime.pool import KindPool, Ticket
    from modal_functions.runtime.tempdirs import TempDirs
    from modal_functions.runtime.testing import write_config

    cfg = load_config(write_config(tmp_path / "modal.toml", functions={"diagnostic": {"timeout": 60, "stall_timeout": 30, "retries": 0}},
                                   inhouse={"diagnostic": {"workers": 1, "queue": 1, "preload": False}}))
    started, finished, outcomes = threading.Event(), threading.Event(), []

    class Hooks:
        def on_start(self, ticket): started.set()
        def on_progress(self, ticket, progress): pass
        def on_finish(self, ticket, outcome):
            outcomes.append(outcome)
            finished.set()

    pool = KindPool("diagnostic", cfg.pool("diagnostic"), cfg.function("diagnostic"), Hooks(), TempDirs(tmp_path / "tmp"), {},
                    poll_interval=0.05, spawn=NeverReadyWorker)
    pool.start()
    try:
        pool.submit(Ticket(job_id="job_cold", kind="diagnostic", input={}))
        assert started.wait(30)
        assert pool.cancel("job_cold") == "signalled"
        assert finished.wait(30)
        assert outcomes[0].status == "cancelled"
    finally:
        pool.close(timeout=2)
