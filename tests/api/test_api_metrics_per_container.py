"""On Modal each `api` container keeps its own counters: a job's outcome is counted by the one that counted it.

Modal runs up to `[functions.api] max_containers` web containers behind one URL, each with
its own `ApiMetrics`. A job is submitted through one of them and read (GET, wait, events,
DELETE) through any. The container that handed the job out counts its invocation and, at
scrape time, its outcome; another container that merely read the job finished counted that
outcome again, so jobs_finished, duration, cost and errors summed over containers exceeded
the jobs that ran, and a container could report more jobs finished than it ever accepted.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from modal_functions.api.main import create_app

from api_support import AUTH, ModalLikeBackend, make_settings, metric_total

WAIT_S = 30.0  # upper bound of any wait; never an asserted duration


def test_a_job_read_through_another_container_is_counted_once_by_the_one_that_took_it(tmp_path):
    backend = ModalLikeBackend()  # every container reads the same jobs
    took = create_app(make_settings(tmp_path / "a"), backend)
    other = create_app(make_settings(tmp_path / "b"), backend)
    with TestClient(took, headers=AUTH) as a, TestClient(other, headers=AUTH) as b:
        job = a.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "fail"}}).json()
        done = b.get(f"/v1/jobs/{job['id']}", params={"wait": WAIT_S}).json()  # the client's poll lands elsewhere
        assert done["status"] == "failed"
        b.delete(f"/v1/jobs/{job['id']}")
        text_a, text_b = a.get("/metrics").text, b.get("/metrics").text
    backend.close()

    assert metric_total(text_a, "canvascast_invocations_total") == 1
    assert metric_total(text_a, "canvascast_jobs_finished_total") == 1
    assert metric_total(text_a, "canvascast_errors_total") == 1
    # The other container never took the job: it counts neither its invocation nor its end.
    assert metric_total(text_b, "canvascast_invocations_total") == 0
    assert metric_total(text_b, "canvascast_jobs_finished_total") == 0
    assert metric_total(text_b, "canvascast_errors_total") == 0
    assert metric_total(text_b, "canvascast_cost_usd_total") == 0


def test_a_container_still_counts_the_end_of_a_job_it_took_when_it_reads_it(tmp_path):
    backend = ModalLikeBackend()  # every container reads the same jobs
    app = create_app(make_settings(tmp_path), backend)
    with TestClient(app, headers=AUTH) as c:
        job = c.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "succeed"}}).json()
        assert c.get(f"/v1/jobs/{job['id']}", params={"wait": WAIT_S}).json()["status"] == "succeeded"
        text = c.get("/metrics").text
    backend.close()
    assert metric_total(text, "canvascast_jobs_finished_total") == 1
    assert app.state.metrics.pending() == []
