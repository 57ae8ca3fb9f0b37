"""`GET /v1/jobs?idempotency_key=K[&kind=]`: the job a POST with K would be answered with, without submitting.

On the in-memory backend through the app (TestClient). The real in-house backend over
uvicorn is in test_serve.py, the Modal backend in tests/modal_layer.
"""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from api_support import TOKEN, FakeBackend
from test_bad_input import assert_error

DIAG = {"kind": "diagnostic", "input": {"action": "succeed", "payload": "p"}}


def lookup(client, key, **params):
    return client.get("/v1/jobs", params={"idempotency_key": key, **params})


def test_found_is_the_same_job_body_as_get_by_id(client):
    job = client.post("/v1/jobs", json={**DIAG, "idempotency_key": "render-1:images:1"}).json()
    done = client.get(f"/v1/jobs/{job['id']}", params={"wait": 10}).json()
    assert done["status"] == "succeeded"
    found = lookup(client, "render-1:images:1")
    assert found.status_code == 200
    assert found.json() == client.get(f"/v1/jobs/{job['id']}").json()
    assert lookup(client, "render-1:images:1", kind="diagnostic").json()["id"] == job["id"]


def test_a_key_sent_in_the_header_is_found_too(client):
    job = client.post("/v1/jobs", json=DIAG, headers={"Idempotency-Key": "hdr-1"}).json()
    assert lookup(client, "hdr-1").json()["id"] == job["id"]


def test_not_found_is_404_not_found_and_creates_nothing(client, backend):
    client.post("/v1/jobs", json={**DIAG, "idempotency_key": "exists"})
    err = assert_error(lookup(client, "never-submitted"), 404, "not_found")
    assert err["retryable"] is False
    assert "Retry-After" not in lookup(client, "never-submitted").headers
    assert len(backend.jobs) == 1, "a lookup never submits"


def test_a_key_of_another_kind_is_404_not_found(client):
    client.post("/v1/jobs", json={**DIAG, "idempotency_key": "diag-key"})
    err = assert_error(lookup(client, "diag-key", kind="render_video"), 404, "not_found")
    assert "diagnostic" in err["message"] and err["retryable"] is False


@pytest.mark.parametrize("query,status,code", [
    ("", 422, "validation_error"),  # the key is required
    ("idempotency_key=", 422, "validation_error"),  # same rules as the POST's key: 1..200 characters
    ("idempotency_key=" + "k" * 201, 422, "validation_error"),
    ("idempotency_key=k&kind=mine_bitcoin", 400, "unknown_kind"),  # like an unknown kind in a body
])
def test_bad_queries(client, query, status, code):
    assert_error(client.get(f"/v1/jobs?{query}"), status, code)


def test_keys_the_post_accepts_are_looked_up_as_they_are(client):
    for key in ["k" * 200, "ключ/ü 1?&=#", "  spaced  "]:
        job = client.post("/v1/jobs", json={**DIAG, "idempotency_key": key}).json()
        assert lookup(client, key).json()["id"] == job["id"], key


def test_same_auth_as_the_other_job_routes(app_factory):
    with TestClient(app_factory()) as c:
        assert_error(c.get("/v1/jobs", params={"idempotency_key": "k"}), 401, "unauthorized")
        assert_error(c.get("/v1/jobs", params={"idempotency_key": "k"}, headers={"Authorization": "Bearer nope"}), 401, "unauthorized")


def test_a_post_still_being_handled_is_404_submission_in_progress_then_found(app_factory):
    backend = FakeBackend()
    backend.hold_submits = threading.Event()
    with TestClient(app_factory(backend), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        answer: dict = {}
        post = threading.Thread(target=lambda: answer.update(r=c.post("/v1/jobs", json={**DIAG, "idempotency_key": "slow"})))
        post.start()
        try:
            assert backend.submit_entered.wait(10), "the POST reached the backend"
            pending = lookup(c, "slow")
            err = assert_error(pending, 404, "submission_in_progress")
            assert err["retryable"] is True and pending.headers["Retry-After"] == "1"
            # filtered by kind: in progress for its own kind only; other keys are unaffected
            assert_error(lookup(c, "slow", kind="diagnostic"), 404, "submission_in_progress")
            assert_error(lookup(c, "slow", kind="render_video"), 404, "not_found")
            assert_error(lookup(c, "other"), 404, "not_found")
        finally:
            backend.hold_submits.set()
            post.join(10)
        assert answer["r"].status_code == 202
        assert lookup(c, "slow").json()["id"] == answer["r"].json()["id"]
    backend.close()


def test_a_refused_post_leaves_nothing_in_progress(app_factory):
    backend = FakeBackend(limit=0)  # every new job is 429 capacity
    with TestClient(app_factory(backend), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert c.post("/v1/jobs", json={**DIAG, "idempotency_key": "full"}).status_code == 429
        assert_error(lookup(c, "full"), 404, "not_found")
    backend.close()


def test_sync_shortcut_submissions_are_found_by_key(client):
    r = client.post("/v1/diagnostic", json={"payload": "sync"}, headers={"Idempotency-Key": "sync-1"})
    assert r.status_code == 200
    assert lookup(client, "sync-1").json()["id"] == r.json()["job"]["id"]


def test_openapi_documents_the_lookup(client):
    op = client.get("/openapi.json").json()["paths"]["/v1/jobs"]["get"]
    assert "idempotency key" in op["summary"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["idempotency_key"]["required"] is True and params["idempotency_key"]["schema"]["maxLength"] == 200
    assert params["kind"]["required"] is False
    assert {"200", "404", "401", "422"} <= set(op["responses"])
    assert "submission_in_progress" in op["responses"]["404"]["description"]
