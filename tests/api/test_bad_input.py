"""Bad input gets a 4xx with a machine-readable code, never a 500 (issue 2, "Must show")."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api_support import TOKEN

JSON = {"content-type": "application/json"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["retryable"], bool)
    return body["error"]


def test_malformed_json(client):
    assert_error(client.post("/v1/jobs", content=b'{"kind": "diagnostic", "input": {', headers=JSON), 400, "malformed_json")
    assert_error(client.post("/v1/diagnostic", content=b"not json", headers=JSON), 400, "malformed_json")


def test_body_without_json_content_type_is_malformed(client):
    assert_error(client.post("/v1/jobs", content=b'{"kind": "diagnostic", "input": {}}', headers={"content-type": "text/plain"}),
                 400, "malformed_json")


def test_unknown_kind_on_jobs_sync_and_warm(client):
    assert_error(client.post("/v1/jobs", json={"kind": "mine_bitcoin", "input": {}}), 400, "unknown_kind")
    assert_error(client.post("/v1/mine_bitcoin", json={}), 400, "unknown_kind")
    assert_error(client.post("/v1/warm", json={"kinds": ["diagnostic", "nope"], "ttl_s": 60}), 400, "unknown_kind")


def test_schema_errors_are_422(client):
    assert_error(client.post("/v1/jobs", json={"kind": "diagnostic"}), 422, "validation_error")
    assert_error(client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"action": "explode"}}), 422, "validation_error")
    assert_error(client.post("/v1/jobs", json=[1, 2]), 422, "validation_error")
    assert_error(client.post("/v1/diagnostic", json={"seconds": -1}), 422, "validation_error")
    assert_error(client.post("/v1/warm", json={"kinds": [], "ttl_s": 60}), 422, "validation_error")


def test_oversize_body_declared_length(client):
    big = b'{"kind": "diagnostic", "input": {"payload": "' + b"x" * 70_000 + b'"}}'
    assert_error(client.post("/v1/jobs", content=big, headers=JSON), 413, "payload_too_large")


def test_oversize_body_streamed_without_length(client):
    def chunks():
        yield b'{"kind": "diagnostic", "input": {"payload": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'"}}'

    assert_error(client.post("/v1/jobs", content=chunks(), headers=JSON), 413, "payload_too_large")
    assert_error(client.post("/v1/diagnostic", content=chunks(), headers=JSON), 413, "payload_too_large")


def test_missing_and_wrong_token(app_factory):
    with TestClient(app_factory()) as anon:
        assert_error(anon.post("/v1/jobs", json={"kind": "diagnostic", "input": {}}), 401, "unauthorized")
        assert_error(anon.get("/v1/jobs/abc"), 401, "unauthorized")
        assert_error(anon.post("/v1/diagnostic", json={}), 401, "unauthorized")
        for value in ("Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"):
            assert_error(anon.get("/v1/jobs/abc", headers={"Authorization": value}), 401, "unauthorized")
        for body in (b"{not json", b"\xff\xfe", b"[" * 5000):  # the token is checked before the body is read
            for path in ("/v1/jobs", "/v1/diagnostic"):
                assert_error(anon.post(path, content=body, headers=JSON), 401, "unauthorized")
                assert_error(anon.post(path, content=body, headers={**JSON, "Authorization": "Bearer wrong"}), 401, "unauthorized")
        non_ascii = anon.get("/v1/jobs/abc", headers=[(b"authorization", "Bearer tøken".encode("latin-1"))])
        assert_error(non_ascii, 401, "unauthorized")
        # open routes
        assert anon.get("/health").status_code == 200
        assert anon.get("/metrics").status_code == 200
        assert anon.get("/openapi.json").status_code == 200


def test_a_trailing_slash_is_no_route_not_a_redirect(client):
    for method, path in (("GET", "/health/"), ("POST", "/v1/jobs/"), ("POST", "/v1/diagnostic/")):
        got = client.request(method, path, json={}, headers={"Host": "evil.example"}, follow_redirects=False)
        assert_error(got, 404, "not_found")
        assert "location" not in got.headers


def test_unknown_job_id(client):
    assert_error(client.get("/v1/jobs/does-not-exist"), 404, "not_found")
    assert_error(client.delete("/v1/jobs/does-not-exist"), 404, "not_found")
    assert_error(client.get("/v1/jobs/does-not-exist/events"), 404, "not_found")


def test_unknown_route_and_method(client):
    assert_error(client.get("/v2/anything"), 404, "not_found")
    assert_error(client.put("/v1/jobs"), 405, "method_not_allowed")


def test_unexpected_exception_is_500_json(app_factory, backend, caplog):
    def boom(job_id):
        raise RuntimeError("bug")

    backend.poll = boom
    with TestClient(app_factory(), raise_server_exceptions=False, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        error = assert_error(c.get("/v1/jobs/x"), 500, "internal")
    assert "bug" not in error["message"]
    assert any(r.getMessage() == "unhandled error" and r.error_type == "RuntimeError" for r in caplog.records)


def test_openapi_documents_error_bodies(client):
    spec = client.get("/openapi.json").json()
    submit = spec["paths"]["/v1/jobs"]["post"]["responses"]
    for status in ("400", "401", "409", "413", "422", "429"):
        assert submit[status]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorBody", status
    assert "Retry-After" in submit["429"]["headers"]
    assert "modal_unavailable" in submit["503"]["description"]  # Modal's refused spawn, documented where it happens
    assert "modal_unavailable" in spec["paths"]["/v1/warm"]["post"]["responses"]["503"]["description"]
    assert "not_supported" in spec["paths"]["/v1/jobs"]["get"]["responses"]["501"]["description"]
    assert spec["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert "bearer" in str(spec["components"]["securitySchemes"]).lower()
    assert "/health" in spec["paths"] and "/v1/diagnostic" in spec["paths"]


def test_uploads_have_their_own_limit(app_factory):
    app = app_factory(COMPUTE_MAX_BODY_BYTES=1024, COMPUTE_MAX_UPLOAD_BYTES=8192, ARTIFACT_SIGNING_SECRET="s" * 32)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        ok = c.post("/v1/artifacts", params={"ext": "txt"}, content=b"a" * 4096, headers={"content-type": "text/plain"})
        assert ok.status_code == 201, ok.text  # above the JSON limit, within the upload limit
        assert_error(c.post("/v1/artifacts", params={"ext": "txt"}, content=b"a" * 9000), 413, "payload_too_large")
        streamed = (b"b" * 1024 for _ in range(10))
        assert_error(c.post("/v1/artifacts", params={"ext": "txt"}, content=streamed), 413, "payload_too_large")


def test_idempotency_header_and_body_must_agree(client):
    r = client.post("/v1/jobs", json={"kind": "diagnostic", "input": {}, "idempotency_key": "a"}, headers={"Idempotency-Key": "b"})
    assert_error(r, 422, "validation_error")


@pytest.mark.parametrize("path,body,status,code", [
    ("/v1/jobs", b'\xff\xfe{"kind"', 400, "malformed_json"),
    ("/v1/jobs", b"[" * 50_000 + b"]" * 50_000, 400, "malformed_json"),
    ("/v1/jobs", b'{"kind": "diagnostic", "input": {"seconds": ' + b"9" * 5000 + b"}}", 400, "malformed_json"),
    ("/v1/jobs", b'{"kind": "diagnostic", "input": {"seconds": NaN}}', 422, "validation_error"),
    ("/v1/jobs", b'{"kind": "render_video", "input": {"timeline": {"durationMs": 1000, "scenes": [{"image": "a.png", "startMs": 0, '
                 b'"endMs": 1000}], "captions": [{"text": "hi", "startMs": 0, "endMs": 500, "confidence": NaN}]}}}', 422, "validation_error"),
    ("/v1/jobs", b'{"kind": "transcribe_audio", "input": {"audio": "artifacts/a.wav", "duration_s": Infinity}}', 422, "validation_error"),
    ("/v1/jobs", b"null", 422, "validation_error"),
    ("/v1/jobs", b"", 400, "malformed_json"),
    ("/v1/diagnostic", b"", 400, "malformed_json"),
    ("/v1/diagnostic", b'"a string"', 422, "validation_error"),
    ("/v1/jobs", b'{"kind": "diagnostic", "input": {}, "idempotency_key": ""}', 422, "validation_error"),
    ("/v1/warm", b'{"kinds": ["diagnostic"], "ttl_s": 1e10}', 422, "validation_error"),
])
def test_odd_bodies_are_4xx_never_500(app_factory, path, body, status, code):
    with TestClient(app_factory(COMPUTE_MAX_BODY_BYTES=1_000_000), raise_server_exceptions=False,
                    headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert_error(c.post(path, content=body, headers=JSON), status, code)


@pytest.mark.parametrize("query,status,code", [("wait=abc", 422, "validation_error"), ("wait=-1", 422, "validation_error"),
                                               ("wait=nan", 422, "validation_error"), ("wait=inf", 404, "not_found")])
def test_odd_queries(client, query, status, code):
    assert_error(client.get(f"/v1/jobs/x?{query}"), status, code)


def test_openapi_every_error_response_is_an_error_body(client):
    spec = client.get("/openapi.json").json()
    checked = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if status.isdigit() and int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
                    checked += 1
            if path.startswith("/v1/") and not (path.startswith("/v1/artifacts/") and method in ("get", "head")):
                assert "401" in op["responses"], (method, path)
    assert checked > 30


def test_json_types_are_taken_as_the_schema_says(client):
    """No lax coercion at the door: `false` is not 0 and "5" is not 5 (the TS types would not allow them either)."""
    assert_error(client.post("/v1/warm", json={"kinds": ["diagnostic"], "ttl_s": 60, "min_containers": False}), 422, "validation_error")
    assert_error(client.post("/v1/warm", json={"kinds": ["diagnostic"], "ttl_s": "60"}), 422, "validation_error")
    assert_error(client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"steps": True}}), 422, "validation_error")
    assert_error(client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"steps": "2"}}), 422, "validation_error")
    assert_error(client.post("/v1/diagnostic", json={"steps": "2"}), 422, "validation_error")
    assert client.post("/v1/jobs", json={"kind": "diagnostic", "input": {"steps": 2, "seconds": 0}}).status_code == 202


def test_405_names_every_method_the_path_serves(client):
    response = client.request("OPTIONS", "/v1/jobs")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
    response = client.request("PUT", "/v1/jobs/job_000000000000000000000000")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "DELETE, GET"
