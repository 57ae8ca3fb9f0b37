"""`/metrics` on the real in-house backend counts each job it ran exactly once, in the process that ran it.

Against real worker processes: an app served by uvicorn on a loopback port (in this process,
so the interleaving of a submit and a fast finish can be forced), and `canvascast serve`
restarted on the same data dir.
"""

from __future__ import annotations


import httpx
import pytest

from modal_functions.api.main import create_app
from modal_functions.api.server_process import ServerProcess
from modal_functions.config import load_config
from modal_functions.runtime.inhouse import InHouseBackend
from modal_functions.runtime.testing import write_config
from modal_functions.settings import Settings

from api_support import AUTH, TOKEN, Served, metric_total

WAIT_S = 30.0  # upper bound of any wait below; never an asserted duration


def _toml(tmp_path):
    return write_config(tmp_path / "modal.toml",
                        inhouse={"diagnostic": {"workers": 1, "queue": 4, "preload": True}},
                        functions={"diagnostic": {"stall_timeout": 6, "retries": 0, "timeout": 30}})


class FinishesBeforeSubmitReturns(InHouseBackend):
    """The interleaving a fast job on a warm worker produces: the job is over before the
    submitting request thread gets its (queued) answer back and counts it."""

    def submit(self, kind, input, idempotency_key=None):
        job = super().submit(kind, input, idempotency_key)
        assert self.wait(job.id, WAIT_S).status.terminal
        return job



def test_a_job_that_finished_before_its_submit_returned_is_not_tracked_as_pending_forever(tmp_path):
    settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"), COMPUTE_TOKEN=TOKEN)
    backend = FinishesBeforeSubmitReturns(load_config(_toml(tmp_path)), settings, kinds=["diagnostic"])
    try:
        app = create_app(settings, backend)
        with Served(app) as served, httpx.Client(base_url=served.base, headers=AUTH, timeout=WAIT_S) as http:
            for i in range(5):
                r = http.post("/v1/jobs", json={"kind": "diagnostic", "input": {"payload": str(i)}})
                assert r.status_code == 202
            text = httpx.get(f"{served.base}/metrics").text
            assert metric_total(text, "canvascast_invocations_total") == 5
            assert metric_total(text, "canvascast_jobs_finished_total") == 5
            # Before the fix every one of them stayed "pending" for good: each scrape polled all of
            # them again (one registry read per job ever run fast), a list that only grew.
            assert app.state.metrics.pending() == []
    finally:
        backend.close()


def test_a_restarted_server_does_not_count_again_what_the_previous_one_ran(tmp_path):
    server = ServerProcess(tmp_path / "data", TOKEN, modal_toml=_toml(tmp_path), args=["--kinds", "diagnostic", "--no-access-log"])
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=WAIT_S) as http:
            body = {"kind": "diagnostic", "input": {"action": "fail"}, "idempotency_key": "restart-metrics-1"}
            job = http.post("/v1/jobs", json=body).json()
            assert http.get(f"/v1/jobs/{job['id']}", params={"wait": WAIT_S}).json()["status"] == "failed"
            before = http.get("/metrics").text
            assert metric_total(before, "canvascast_invocations_total") == 1
            assert metric_total(before, "canvascast_jobs_finished_total") == 1
            assert metric_total(before, "canvascast_errors_total") == 1

            server.stop()
            server.start()  # same port, same data dir: the job and its key answer as before

            assert http.get(f"/v1/jobs/{job['id']}").json()["status"] == "failed"
            assert http.get("/v1/jobs", params={"idempotency_key": "restart-metrics-1"}).json()["id"] == job["id"]
            assert http.post("/v1/jobs", json=body).json()["id"] == job["id"]  # a replay: no new job
            after = http.get("/metrics").text
            # This process ran nothing: a counter that grew here would make `increase()` over the
            # restart count the one job twice (and its cost, duration and error with it).
            assert metric_total(after, "canvascast_invocations_total") == 0
            assert metric_total(after, "canvascast_jobs_finished_total") == 0
            assert metric_total(after, "canvascast_errors_total") == 0
            assert metric_total(after, "canvascast_duration_seconds_count") == 0
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
