"""The job routes over HTTP against the in-memory fake backend (no worker processes)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api_support import TOKEN, FakeBackend, make_settings
from modal_functions.api.main import ConfigurationError, create_app
from modal_functions.contract.jobs import Health, Job


def sse_jobs(response) -> list[Job]:
    jobs = []
    event = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "job":
            jobs.append(Job.model_validate(json.loads(line.split(":", 1)[1])))
    return jobs


def test_submit_poll_and_long_poll(client):
    r = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "sleep", "seconds": 0.3, "steps": 3}})
    assert r.status_code == 202
    job = Job.model_validate(r.json())
    assert job.status.value in ("queued", "running") and job.backend == "inhouse"
    done = Job.model_validate(client.get(f"/v1/jobs/{job.id}", params={"wait": 10}).json())
    assert done.status.value == "succeeded" and done.progress.done == 3


def test_events_stream_progress_to_terminal(client):
    job = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "sleep", "seconds": 1.0, "steps": 4}}).json()
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        jobs = sse_jobs(r)
    assert jobs[-1].status.value == "succeeded"
    assert [j for j in jobs if j.status.value == "running" and j.progress.done > 0], "no progress events"
    dones = [j.progress.done for j in jobs]
    assert dones == sorted(dones)


def test_events_of_finished_job_is_one_event(client):
    job = client.post("/v1/diagnostic", json={}).json()["job"]
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as r:
        jobs = sse_jobs(r)
    assert len(jobs) == 1 and jobs[0].status.value == "succeeded"


def test_sync_shortcut_returns_envelope(client):
    r = client.post("/v1/diagnostic", json={"payload": "hello"})
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and body["error"] is None
    assert body["data"]["echo"] == "hello"
    assert body["job"]["status"] == "succeeded"

    r = client.post("/v1/diagnostic", json={"action": "fail"})
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is False and body["data"] is None and body["error"]["code"] == "diagnostic_failure"


def test_sync_shortcut_answers_202_after_the_wait(app_factory):
    with TestClient(app_factory(COMPUTE_SYNC_WAIT_S=0.2), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        r = c.post("/v1/diagnostic", json={"action": "stall"}, headers={"Idempotency-Key": "slow-1"})
        assert r.status_code == 202
        job = Job.model_validate(r.json())
        assert not job.status.terminal and job.idempotency_key == "slow-1"
        again = c.post("/v1/diagnostic", json={"action": "stall"}, headers={"Idempotency-Key": "slow-1"})
        assert again.json()["id"] == job.id
        assert c.delete(f"/v1/jobs/{job.id}").json()["status"] == "cancelled"


def test_idempotency_same_key_same_job_other_input_409(client):
    a = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"payload": "a"}, "idempotency_key": "k1"}).json()
    b = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"payload": "a"}, "idempotency_key": "k1"}).json()
    assert a["id"] == b["id"]
    conflict = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"payload": "b"}, "idempotency_key": "k1"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    fresh = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"payload": "a"}}, headers={"Idempotency-Key": "k2"}).json()
    assert fresh["id"] != a["id"]


def test_capacity_429_carries_retry_after(app_factory):
    fake = FakeBackend(limit=1, retry_after=2.5)
    with TestClient(app_factory(fake), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        first = c.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "stall"}})
        assert first.status_code == 202
        for r in (c.post("/v1/jobs", json={"kind": "diagnostic", "input": {}}), c.post("/v1/diagnostic", json={})):
            assert r.status_code == 429
            assert r.headers["Retry-After"] == "3"  # whole seconds, rounded up
            assert r.json()["error"] == {"code": "capacity", "message": "full", "retryable": True}
        health = Health.model_validate(c.get("/health").json())
        assert health.capacity["diagnostic"].free == 0
    fake.close()


def test_cancel(client):
    job = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "stall"}}).json()
    cancelled = client.delete(f"/v1/jobs/{job['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"


def test_health_and_warm(client):
    health = Health.model_validate(client.get("/health").json())
    assert health.status == "ok" and health.backend == "inhouse" and "diagnostic" in health.capabilities
    assert health.warm == {"diagnostic": True}
    lease = client.post("/v1/warm", json={"kinds": ["diagnostic"], "ttl_s": 60})
    assert lease.status_code == 200 and lease.json()["kinds"] == ["diagnostic"]


def test_backend_name_modal_rewrites_answers(app_factory, backend):
    app = create_app(app_factory().state.settings, backend, backend_name="modal")
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert c.get("/health").json()["backend"] == "modal"
        assert c.post("/v1/diagnostic", json={}).json()["job"]["backend"] == "modal"
        assert c.post("/v1/warm", json={"kinds": ["diagnostic"], "ttl_s": 5}).json()["backend"] == "modal"
        c.post("/v1/jobs", json={"kind": "diagnostic", "input": {}, "idempotency_key": "renamed"})
        assert c.get("/v1/jobs", params={"idempotency_key": "renamed"}).json()["backend"] == "modal"


def test_metrics_after_jobs(client):
    client.post("/v1/diagnostic", json={})
    client.post("/v1/diagnostic", json={"action": "fail"})
    client.post("/v1/jobs", json={"kind": "diagnostic", "input": {}, "idempotency_key": "m"})
    client.post("/v1/jobs", json={"kind": "diagnostic", "input": {}, "idempotency_key": "m"})  # not a new invocation
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert 'canvascast_invocations_total{backend="inhouse",kind="diagnostic"} 3.0' in body
    assert 'canvascast_errors_total{backend="inhouse",code="diagnostic_failure",kind="diagnostic"} 1.0' in body
    assert 'canvascast_duration_seconds_count{backend="inhouse",kind="diagnostic"}' in body
    assert 'canvascast_queue_seconds_bucket' in body
    assert 'canvascast_cold_starts_total{backend="inhouse",kind="diagnostic"}' in body
    assert 'canvascast_cost_usd_total{backend="inhouse",kind="diagnostic"}' in body


def test_metrics_registry_is_per_app(app_factory):
    a, b = app_factory(), app_factory()
    assert a.state.metrics.registry is not b.state.metrics.registry


def test_production_refuses_to_start_without_token(tmp_path, backend):
    with pytest.raises(ConfigurationError):
        create_app(make_settings(tmp_path, COMPUTE_TOKEN=None, CANVASCAST_ENV="production"), backend)
    create_app(make_settings(tmp_path, CANVASCAST_ENV="production"), backend)  # with a token: fine


def test_local_without_token_is_open_and_warns(tmp_path, backend, caplog):
    with TestClient(create_app(make_settings(tmp_path, COMPUTE_TOKEN=None), backend)) as c:
        assert c.post("/v1/diagnostic", json={}).status_code == 200
    assert any("COMPUTE_TOKEN is not set" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mode,status,code", [("fail", 503, "upstream_unavailable"), ("capacity", 429, "capacity")])
def test_fault_injection_modes(app_factory, mode, status, code):
    with TestClient(app_factory(faults=True), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert c.post("/v1/_faults", json={"mode": mode, "n": 2}).json()["remaining"] == 2
        for _ in range(2):
            r = c.post("/v1/jobs", json={"kind": "diagnostic", "input": {}})
            assert r.status_code == status and r.json()["error"]["code"] == code
            if status == 429:
                assert r.headers["Retry-After"] == "1"
        assert c.post("/v1/diagnostic", json={}).status_code == 200  # n used up: back to normal
        assert c.get("/v1/_faults").json()["mode"] == "none"


def test_fault_route_absent_without_flag(client):
    r = client.post("/v1/_faults", json={"mode": "fail"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


# HttpBackend gives long polls their own timeout; the in-process TestClient stood in for
# httpx.Client here has no network to time out and warns that it ignores the argument.
@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument with the TestClient")
def test_http_backend_client_maps_answers_and_errors(app_factory):
    from modal_functions.api.client import HttpBackend
    from modal_functions.errors import CapabilityError

    fake = FakeBackend(limit=1, retry_after=2)
    tc = TestClient(app_factory(fake), headers={"Authorization": f"Bearer {TOKEN}"})
    with tc:
        http = HttpBackend("http://testserver", client=tc)
        assert http.name == "inhouse"
        job = http.submit("diagnostic", {"action": "sleep", "seconds": 0.2, "steps": 2}, idempotency_key="c1")
        seen = list(http.events(job.id, timeout=10))
        assert seen[-1].status.value == "succeeded"
        assert http.wait(job.id, 5).status.value == "succeeded"
        assert http.submit("diagnostic", {"action": "sleep", "seconds": 0.2, "steps": 2}, idempotency_key="c1").id == job.id
        with pytest.raises(CapabilityError) as e:
            http.submit("diagnostic", {"payload": "other"}, idempotency_key="c1")
        assert (e.value.code, e.value.http_status) == ("idempotency_conflict", 409)
        with pytest.raises(CapabilityError) as e:
            http.poll("nope")
        assert (e.value.code, e.value.http_status) == ("not_found", 404)
        stalled = http.submit("diagnostic", {"action": "stall"})
        with pytest.raises(CapabilityError) as e:
            http.submit("diagnostic", {})
        assert (e.value.code, e.value.http_status, e.value.retry_after, e.value.retryable) == ("capacity", 429, 2.0, True)
        assert http.wait(stalled.id, 0.1).status.value == "running"
        assert http.cancel(stalled.id).status.value == "cancelled"
        assert http.capacity()["diagnostic"].free == 1
        assert http.warm(["diagnostic"], 10).kinds == ["diagnostic"]
    fake.close()


def test_production_refuses_fault_injection(tmp_path, backend):
    with pytest.raises(ConfigurationError):
        create_app(make_settings(tmp_path, CANVASCAST_ENV="production"), backend, faults_enabled=True)


def test_http_backend_transport_failure_is_upstream_unavailable():
    from modal_functions.api.client import HttpBackend
    from modal_functions.api.server_process import free_port
    from modal_functions.errors import CapabilityError

    http = HttpBackend(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2)
    with pytest.raises(CapabilityError) as e:
        http.submit("diagnostic", {})
    assert (e.value.code, e.value.retryable, e.value.http_status) == ("upstream_unavailable", True, 503)
    with pytest.raises(CapabilityError):
        list(http.events("x", 1))
    http.close()
