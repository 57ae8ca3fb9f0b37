"""Only the upload route itself (`POST /v1/artifacts`) gets the larger upload limit (api/limits.py).

A path that merely starts with it (`/v1/artifactsX`, `/v1/artifacts-anything`) or another
route under it is held to the ordinary body limit."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from modal_functions.api.limits import BodyLimitMiddleware

BODY, UPLOAD = 100, 10_000


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


def client() -> TestClient:
    app = Starlette(routes=[Route("/{path:path}", echo, methods=["POST", "PUT", "GET"])])
    return TestClient(BodyLimitMiddleware(app, max_body_bytes=BODY, max_upload_bytes=UPLOAD))


def test_the_upload_route_gets_the_upload_limit():
    with client() as c:
        assert c.post("/v1/artifacts", content=b"a" * 5000).json() == {"bytes": 5000}


def test_paths_that_only_start_like_the_upload_route_get_the_body_limit():
    with client() as c:
        for path in ("/v1/artifactsX", "/v1/artifacts-anything", "/v1/artifacts/some-key", "/v1/artifacts/"):
            r = c.post(path, content=b"a" * 5000)
            assert r.status_code == 413, path
            assert r.json()["error"]["code"] == "payload_too_large"


def test_another_method_on_the_upload_path_gets_the_body_limit():
    with client() as c:
        assert c.put("/v1/artifacts", content=b"a" * 5000).status_code == 413
