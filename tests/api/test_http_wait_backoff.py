"""`HttpBackend.wait` against a server that answers long polls at once (`COMPUTE_SYNC_WAIT_S=0`).

The server caps `?wait=` at its sync wait, so with 0 every poll comes back immediately with
the job still running. The client used to ask again straight away until its deadline: a busy
loop of HTTP requests. It now waits between such polls with a bounded backoff.

The server is real (uvicorn on 127.0.0.1); the client's clock and sleep are injected, so the
test counts requests and sleeps without depending on how fast the machine is.
"""

from __future__ import annotations

from contextlib import closing

import httpx
import pytest
from api_support import TOKEN, Served, make_settings

from modal_functions.api import client as client_module
from modal_functions.api.client import HttpBackend
from modal_functions.api.main import create_app

REQUEST_LIMIT = 200  # far above what a waiting client sends; a busy loop reaches it at once


class FakeTime:
    """Only `sleep` moves the clock: a client that never sleeps never reaches its deadline."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TooManyRequests(Exception):
    pass


def test_wait_backs_off_when_the_server_answers_at_once(tmp_path, backend, monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(client_module, "time", clock)
    job = backend.submit("diagnostic", {"action": "stall"})
    requests: list[httpx.Request] = []

    def count(request: httpx.Request) -> None:
        requests.append(request)
        if len(requests) > REQUEST_LIMIT:
            raise TooManyRequests(f"{len(requests)} requests and the client still has not waited")

    app = create_app(make_settings(tmp_path, COMPUTE_SYNC_WAIT_S=0), backend)
    with Served(app) as served:
        http = httpx.Client(base_url=served.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
                            event_hooks={"request": [count]})
        remote = HttpBackend(served.base, client=http)
        try:
            answer = remote.wait(job.id, timeout=20)
        except TooManyRequests as e:
            pytest.fail(str(e))
        finally:
            remote.close()

    assert answer.id == job.id and not answer.status.terminal
    assert all(s > 0 for s in clock.sleeps)
    assert sum(clock.sleeps) == pytest.approx(20)  # it waited out its deadline, and no longer
    assert max(clock.sleeps) <= client_module._MAX_POLL_INTERVAL_S
    assert len(requests) <= 20


def test_wait_does_not_sleep_when_the_job_is_already_done(tmp_path, backend, monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(client_module, "time", clock)
    job = backend.submit("diagnostic", {"action": "succeed"})
    backend.wait(job.id, 30)
    app = create_app(make_settings(tmp_path, COMPUTE_SYNC_WAIT_S=0), backend)
    with Served(app) as served:
        with closing(HttpBackend(served.base, TOKEN)) as remote:
            answer = remote.wait(job.id, timeout=20)
    assert answer.status.value == "succeeded"
    assert clock.sleeps == []
