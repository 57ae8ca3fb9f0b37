"""`/metrics` keeps counting a job (Modal: no change listener) whose status poll failed once.

A scrape polls the jobs the API still holds as pending. A poll that fails because the
backend is briefly unreachable (Modal's 503 `modal_unavailable`, a network error) says
nothing about the job: it must stay pending and be counted when it finishes. Only an
answer that the job is not one (404 not_found, 410 record_unreadable) stops tracking it.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from modal_functions.api.main import create_app
from modal_functions.errors import CapabilityError

from api_support import AUTH, ModalLikeBackend, make_settings, metric_total

WAIT_S = 30.0  # upper bound of any wait; never an asserted duration


class FlakyModal(ModalLikeBackend):
    """Reports no changes (like Modal); `poll` raises `error` while it is set."""

    def __init__(self):
        super().__init__()
        self.error: BaseException | None = None

    def poll(self, job_id: str):
        if self.error is not None:
            raise self.error
        return super().poll(job_id)


def _run(tmp_path, error: BaseException):
    backend = FlakyModal()
    app = create_app(make_settings(tmp_path), backend)
    with TestClient(app, headers=AUTH) as c:
        job = c.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "stall"}}).json()
        assert metric_total(c.get("/metrics").text, "canvascast_invocations_total") == 1
        assert app.state.metrics.pending() == [job["id"]]

        backend.error = error  # one scrape while Modal cannot be reached
        assert c.get("/metrics").status_code == 200
        backend.error = None

        backend.release.set()  # the job finishes; nobody asks about it but the scraper
        with backend.cond:
            assert backend.cond.wait_for(lambda: backend.jobs[job["id"]].status.terminal, WAIT_S)
        text = c.get("/metrics").text
        finished = metric_total(text, "canvascast_jobs_finished_total")
        pending = app.state.metrics.pending()
    backend.close()
    return finished, pending


def test_a_job_whose_poll_failed_transiently_is_still_counted_when_it_finishes(tmp_path):
    error = CapabilityError("modal_unavailable", "Modal did not answer", retryable=True, http_status=503)
    finished, pending = _run(tmp_path, error)
    # Before the fix the failed poll dropped the job from the pending set for good: its end
    # was never counted (jobs_finished, duration, cost and errors all missed it).
    assert finished == 1
    assert pending == []


def test_an_unexpected_poll_error_does_not_drop_the_job_either(tmp_path):
    finished, pending = _run(tmp_path, ConnectionError("reset by peer"))
    assert finished == 1
    assert pending == []


def test_a_job_the_backend_no_longer_knows_stops_being_polled(tmp_path):
    backend = FlakyModal()
    app = create_app(make_settings(tmp_path), backend)
    with TestClient(app, headers=AUTH) as c:
        job = c.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "stall"}}).json()
        backend.error = CapabilityError("not_found", f"no job {job['id']}", http_status=404)
        assert c.get("/metrics").status_code == 200
        assert app.state.metrics.pending() == []  # gone for good: no poll of it on every scrape
    backend.close()
