"""An artifact read gets ONE whole version of the file, whatever happens to its path.

The local store replaces a render atomically when it is published again and deletes
old files in retention cleanup. A response that stats the path and opens it again later
sent one version's Content-Length with another's bytes, or a 500.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from modal_functions.api.open_file_response import OpenFileResponse


def _serve(response: OpenFileResponse, headers: list[tuple[bytes, bytes]] | None = None, extensions: dict | None = None):
    sent: list[dict] = []
    scope = {"type": "http", "method": "GET", "headers": headers or [], "asgi": {"spec_version": "2.4"},
             "extensions": extensions or {}}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(response(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict((k.decode(), v.decode()) for k, v in start["headers"]), body


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # as LocalStore.publish does


@pytest.mark.parametrize("then", ["replaced", "deleted"])
def test_the_version_opened_is_the_version_sent(tmp_path: Path, then: str):
    path = tmp_path / "x.json"
    path.write_bytes(b"a" * 10)
    response = OpenFileResponse(open(path, "rb"), path, media_type="application/json")
    if then == "replaced":
        _replace(path, b"b" * 300_000)
    else:
        path.unlink()
    status, headers, body = _serve(response)
    assert (status, headers["content-length"], body) == (200, "10", b"a" * 10)
    assert response._file.closed


def test_a_range_reads_the_opened_version_and_pathsend_is_not_used(tmp_path: Path):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(100)))
    response = OpenFileResponse(open(path, "rb"), path)
    _replace(path, b"z" * 100)
    status, headers, body = _serve(response, headers=[(b"range", b"bytes=10-19")], extensions={"http.response.pathsend": {}})
    assert (status, headers["content-range"], body) == (206, "bytes 10-19/100", bytes(range(10, 20)))
    status, _, body = _serve(OpenFileResponse(open(path, "rb"), path), extensions={"http.response.pathsend": {}})
    assert (status, body) == (200, b"z" * 100)  # bytes, not a path for the server to read later


def test_a_head_closes_the_file_too(tmp_path: Path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    response = OpenFileResponse(open(path, "rb"), path)
    sent: list[dict] = []

    async def run():
        async def receive():
            return {"type": "http.request"}

        async def send(message):
            sent.append(message)

        await response({"type": "http", "method": "HEAD", "headers": [], "asgi": {"spec_version": "2.4"}}, receive, send)

    asyncio.run(run())
    assert sent[-1]["body"] == b"" and response._file.closed
