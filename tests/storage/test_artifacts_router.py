"""The artifacts router over real HTTP (uvicorn on 127.0.0.1): upload, signed reads, refusals."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from modal_functions.api.errors import install_error_handlers
from modal_functions.api.routers import artifacts
from modal_functions.settings import Settings, get_settings
from modal_functions.storage.local import LocalStore

TOKEN = "t0ken"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Served:
    """A uvicorn server on a pre-bound socket: the kernel queues connections until it accepts."""

    def __init__(self, app: FastAPI):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("router")
    clock = FakeClock()
    settings = Settings(CANVASCAST_DATA_DIR=root, COMPUTE_TOKEN=TOKEN, COMPUTE_MAX_UPLOAD_BYTES=64 * 1024)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(artifacts.router)
    app.state.settings = settings  # what the api's dependencies read
    app.dependency_overrides[get_settings] = lambda: settings
    with Served(app) as served:
        store = LocalStore(root / "store", served.base, "router-secret", clock=clock)
        app.state.artifact_store = store
        with httpx.Client(base_url=served.base, timeout=10) as client:
            yield client, store, clock, served


def upload(client: httpx.Client, data: bytes, **params) -> httpx.Response:
    return client.post("/v1/artifacts", content=data, params=params, headers={"Authorization": f"Bearer {TOKEN}"})


def raw_get(served: Served, target: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        conn.request("GET", target)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, (json.loads(body) if resp.getheader("content-type", "").startswith("application/json") else {"raw": body})
    finally:
        conn.close()


def test_upload_then_signed_read(env):
    client, store, clock, _ = env
    r = upload(client, PNG, ext="png")
    assert r.status_code == 201, r.text
    ref = r.json()
    digest = hashlib.sha256(PNG).hexdigest()
    assert ref["key"] == f"artifacts/sha256/{digest[:2]}/{digest}.png"
    assert (ref["sha256"], ref["size"], ref["content_type"]) == (digest, len(PNG), "image/png")
    got = client.get(ref["url"])
    assert got.status_code == 200
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    # Range
    part = client.get(ref["url"], headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == PNG[:8]


def test_an_uploaded_svg_is_served_as_data_not_as_a_page_of_this_origin(env):
    client, *_ = env
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
    got = client.get(upload(client, svg, ext="svg").json()["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in got.headers["content-security-policy"]
    assert "default-src 'none'" in got.headers["content-security-policy"]


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=3-1", "items=0-7", "bytes=", "bytes=-"])
def test_a_range_that_does_not_parse_is_ignored(env, header):
    """RFC 9110: the whole file, 200 (Starlette answered a text/plain 400)."""
    client, *_ = env
    ref = upload(client, PNG, ext="png").json()
    got = client.get(ref["url"], headers={"Range": header})
    assert got.status_code == 200 and got.content == PNG


def test_an_unsatisfiable_range_is_a_json_416(env):
    client, *_ = env
    ref = upload(client, PNG, ext="png").json()
    got = client.get(ref["url"], headers={"Range": f"bytes={len(PNG) + 10}-{len(PNG) + 20}"})
    assert got.status_code == 416 and got.headers["content-range"] == f"bytes */{len(PNG)}"
    assert got.json()["error"]["code"] == "range_not_satisfiable"
    tail = client.get(ref["url"], headers={"Range": "bytes=-4"})
    assert tail.status_code == 206 and tail.content == PNG[-4:]


@pytest.mark.parametrize("header, first, last", [
    ("bytes=" + "9" * 5000 + "-", None, None),  # int() refuses numbers over 4300 digits: this was a 500
    ("bytes=0-" + "9" * 5000, 0, -1),  # an end past the end: the rest of the file
    ("bytes=-" + "9" * 5000, 0, -1),  # a suffix longer than the file: all of it
    ("bytes=0-1,100000-200000", 0, 1),  # the part inside the file is served, the other dropped
    ("bytes=0-0,-0", 0, 0),
])
def test_ranges_past_the_end_of_any_size_are_dropped_or_clamped(env, header, first, last):
    client, *_ = env
    ref = upload(client, PNG, ext="png").json()
    got = client.get(ref["url"], headers={"Range": header})
    if first is None:
        assert got.status_code == 416 and got.json()["error"]["code"] == "range_not_satisfiable"
    else:
        assert got.status_code == 206 and got.content == PNG[first:len(PNG) if last == -1 else last + 1]
    assert client.head(ref["url"], headers={"Range": header}).status_code == got.status_code


def test_same_bytes_same_key_and_ext_from_content_type(env):
    client, *_ = env
    a = upload(client, b"RIFF....WAVE", ext="wav").json()
    b = client.post("/v1/artifacts", content=b"RIFF....WAVE", headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "audio/wav"}).json()
    assert a["key"] == b["key"] and a["key"].endswith(".wav")
    assert b["content_type"] == "audio/wav"


def test_upload_needs_token(env):
    client, *_ = env
    r = client.post("/v1/artifacts", content=b"x", params={"ext": "png"})
    assert r.status_code == 401
    r = client.post("/v1/artifacts", content=b"x", params={"ext": "png"}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_upload_bad_ext_and_unknown_type(env):
    client, *_ = env
    r = upload(client, b"x", ext="../png")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_key")
    r = client.post("/v1/artifacts", content=b"x", headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-unknown"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_request")


def test_upload_over_cap_streamed(env):
    client, store, *_ = env

    def body():
        for _ in range(80):
            yield b"z" * 1024  # chunked: no Content-Length, counted as it streams

    r = client.post("/v1/artifacts", content=body(), params={"ext": "bin"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert list((store.root / ".tmp").glob("*.part")) == []


def test_expired_signature_refused(env):
    client, store, clock, _ = env
    ref = upload(client, b"expiring", ext="txt", expires_in=60).json()
    assert client.get(ref["url"]).status_code == 200
    clock.now += 61
    try:
        r = client.get(ref["url"])
    finally:
        clock.now -= 61
    assert r.status_code == 403
    assert r.json()["error"] == {"code": "signature_expired", "message": "signed URL has expired", "retryable": False}


def test_tampered_signatures_refused(env):
    client, store, *_ = env
    ref = upload(client, b"tamper me", ext="txt").json()
    other = upload(client, b"another", ext="txt").json()
    url = ref["url"]
    base, query = url.split("?")
    exp = int(query.split("exp=")[1].split("&")[0])
    sig = query.split("sig=")[1]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    cases = [
        f"{base}?exp={exp}&sig={flipped}",  # one hex digit changed
        f"{base}?exp={exp + 3600}&sig={sig}",  # extended expiry
        f"{other['url'].split('?')[0]}?exp={exp}&sig={sig}",  # another key, this signature
        f"{base}?exp={exp}",  # no signature
        f"{base}?exp={exp}&sig={sig.upper()}",  # not the canonical form
    ]
    for bad in cases:
        r = client.get(bad)
        assert r.status_code == 403, bad
        assert r.json()["error"]["code"] == "bad_signature"


def test_missing_artifact_with_valid_signature(env):
    client, store, *_ = env
    key = "artifacts/sha256/ff/" + "f" * 64 + ".png"
    # a URL signed while the artifact existed, read after cleanup removed it (the store
    # itself refuses to sign a missing key)
    r = client.get(store.signer.url(key, 60))
    assert r.status_code == 404 and r.json()["error"]["code"] == "artifact_not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/artifacts/../../signing-secret",
        "/v1/artifacts/artifacts/../../signing-secret",
        "/v1/artifacts/%2e%2e/%2e%2e/signing-secret",
        "/v1/artifacts/artifacts/sha256/ab/..%2f..%2f..%2fsigning-secret",
        "/v1/artifacts//etc/passwd",
        "/v1/artifacts/%2fetc%2fpasswd",
        "/v1/artifacts/artifacts%5csha256%5cab%5c" + "ab" * 32 + ".png",
        "/v1/artifacts/artifacts/sha256/ab/" + "ab" * 32 + ".png%00.txt",
        "/v1/artifacts/renders/..%2F..%2Fsigning-secret/x.png",
        "/v1/artifacts/.tmp/x.part",
    ],
)
def test_traversal_refused(env, path: str):
    _, store, _, served = env
    # even with a genuine signature over the decoded path, nothing outside the grammar is served
    status, body = raw_get(served, path + "?exp=9999999999&sig=" + "0" * 64)
    assert status == 400
    assert body["error"]["code"] == "invalid_key"  # a JSON error, never file contents


def test_signed_url_points_at_router(env):
    client, store, _, served = env
    ref = store.put_bytes(b"direct", "json")
    url = store.signed_url(ref.key, 30)
    assert urlsplit(url).path == f"/v1/artifacts/{ref.key}"
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"


def test_head_and_openapi(env):
    client, store, *_ = env
    ref = store.put_bytes(b"head me", "mp4")
    r = client.head(store.signed_url(ref.key, 60))
    assert r.status_code == 200
    assert (r.headers["content-type"], r.headers["content-length"], r.content) == ("video/mp4", "7", b"")
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/artifacts"]) == {"post"}
    assert set(paths["/v1/artifacts/{key}"]) == {"get"}


def test_an_upload_that_cannot_be_spooled_is_a_retryable_503_without_our_paths(env):
    client, store, _, _ = env
    spool = store.root / ".tmp"
    if spool.is_dir():
        spool.rename(store.root / ".tmp-aside")
    spool.write_bytes(b"")  # a file where the spool dir goes: mkdir fails as on a broken disk
    try:
        r = upload(client, PNG, ext="png")
        assert r.status_code == 503, r.text
        body = r.json()["error"]
        assert (body["code"], body["retryable"]) == ("storage_unavailable", True)
        assert str(store.root) not in body["message"] and ".tmp" not in body["message"]
    finally:
        spool.unlink()
        if (store.root / ".tmp-aside").is_dir():
            (store.root / ".tmp-aside").rename(spool)


class _FullDisk:
    """A file whose writes fail with ENOSPC, as on a full disk (delegates the rest)."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        import errno
        import os

        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def test_a_full_disk_during_an_upload_is_a_retryable_503_and_leaves_no_partial_file(env, monkeypatch):
    """ENOSPC while spooling the upload (the store then renames the spool in, nothing more is written:
    its own failure is in test_storage_upload_rename.py)."""
    import builtins

    from modal_functions.storage import base

    where = "spool"

    client, store, _, _ = env
    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return _FullDisk(f) if "x" in mode else f

    monkeypatch.setattr(base, "open", full_open, raising=False)  # where spools are made (base.spool)
    data = PNG + where.encode()  # content not stored yet: the store has to write it
    r = upload(client, data, ext="png")
    assert r.status_code == 503, r.text
    body = r.json()["error"]
    assert (body["code"], body["retryable"]) == ("storage_unavailable", True)
    assert "No space left on device" in body["message"] and str(store.root) not in body["message"]
    assert not list(store.root.rglob("*.part"))  # neither the spool file nor the store's temp file is left behind
    digest = hashlib.sha256(data).hexdigest()
    assert not store.exists(f"artifacts/sha256/{digest[:2]}/{digest}.png")
    monkeypatch.undo()
    assert upload(client, data, ext="png").status_code == 201  # space again: the retry lands
