"""`COMPUTE_TOKEN=` (empty, as a `.env` template leaves it) means no token, as the startup check says.

The server logged "COMPUTE_TOKEN is not set: the API is open (local mode only)" and then
refused every `/v1` request with `401 missing bearer token`, which no client could ever
pass (the worker, reading the same empty variable, sends no token at all).
"""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from api_support import make_settings
from modal_functions.api.main import create_app


def test_an_empty_token_leaves_the_local_api_open_as_it_says(tmp_path, backend, caplog):
    with caplog.at_level(logging.WARNING, logger="canvascast.api"):
        app = create_app(make_settings(tmp_path, COMPUTE_TOKEN=""), backend)
    assert any("API is open" in r.getMessage() for r in caplog.records)
    with TestClient(app) as anon:
        submitted = anon.post("/v1/jobs", json={"kind": "diagnostic", "input": {}})
        assert submitted.status_code == 202, submitted.text
        assert anon.get(f"/v1/jobs/{submitted.json()['id']}").status_code == 200
        assert anon.post("/v1/warm", json={"kinds": ["diagnostic"], "ttl_s": 60}).status_code == 200
        # a bad body is about the body, not a token nobody configured
        bad = anon.post("/v1/jobs", content=b"{nope", headers={"content-type": "application/json"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "malformed_json")
