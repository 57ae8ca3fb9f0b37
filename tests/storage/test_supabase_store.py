"""SupabaseStore with the REAL supabase-py against a local fake of the Storage REST protocol."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import httpx
import pytest

from fake_supabase_storage import FakeSupabaseStorage
from modal_functions.errors import CapabilityError
from modal_functions.settings import Settings
from modal_functions.storage import get_store
from modal_functions.storage.supabase_store import SupabaseStore
from store_contract import check_get_to_file_errors_name_the_key_not_the_destination, check_put_file_errors_never_name_the_file

KEY = "service-role-key"
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


START = 1_800_000_000.0


@pytest.fixture(scope="module")
def _shared():
    # one server and one client for the module (building a supabase client costs ~0.5 s)
    clock = FakeClock(START)
    with FakeSupabaseStorage(service_key=KEY, clock=clock) as fake:
        yield clock, fake, SupabaseStore.connect(fake.url, KEY, clock=clock, timeout=5)


@pytest.fixture
def clock(_shared):
    clock = _shared[0]
    clock.now = START
    return clock


@pytest.fixture
def fake(_shared, clock):
    fake = _shared[1]
    for objects in fake.buckets.values():
        objects.clear()
    fake.requests.clear()
    return fake


@pytest.fixture
def store(_shared, fake):
    return _shared[2]


def test_upload_download_with_explicit_content_type(store: SupabaseStore, fake, tmp_path: Path):
    ref = store.put_bytes(MP4, "mp4")
    digest = hashlib.sha256(MP4).hexdigest()
    assert ref.key == f"artifacts/sha256/{digest[:2]}/{digest}.mp4"
    assert (ref.sha256, ref.size, ref.content_type) == (digest, len(MP4), "video/mp4")
    stored = fake.buckets["artifacts"][f"sha256/{digest[:2]}/{digest}.mp4"]
    assert stored.content_type == "video/mp4"  # never the client's text/plain default
    assert stored.data == MP4
    assert store.exists(ref.key)
    assert store.read_bytes(ref.key) == MP4
    assert store.get_to_file(ref.key, tmp_path / "o" / "v.mp4").read_bytes() == MP4
    assert [p for p in (tmp_path / "o").iterdir()] == [tmp_path / "o" / "v.mp4"]


def test_same_bytes_reupload_is_an_upsert(store: SupabaseStore, tmp_path: Path):
    a = store.put_bytes(b"same", "png")
    f = tmp_path / "same.png"
    f.write_bytes(b"same")
    b = store.put_file(f, "png")  # would be 409 Duplicate without upsert "true"
    assert a.key == b.key and b.content_type == "image/png"


def test_missing_object(store: SupabaseStore, tmp_path: Path):
    key = "artifacts/sha256/00/" + "0" * 64 + ".png"
    assert store.exists(key) is False
    with pytest.raises(CapabilityError) as e:
        store.read_bytes(key)
    assert (e.value.code, e.value.http_status) == ("artifact_not_found", 404)
    with pytest.raises(CapabilityError):
        store.get_to_file(key, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_publish_is_a_server_side_copy_to_renders_bucket(store: SupabaseStore, fake):
    ref = store.put_bytes(MP4, "mp4")
    uploads_before = sum(1 for m, p in fake.requests if m == "POST" and p.startswith("/storage/v1/object/artifacts"))
    pub = store.publish(ref.key, "user_1", "render-9")
    assert pub.key == "renders/user_1/render-9.mp4"
    assert (pub.sha256, pub.size, pub.content_type) == (ref.sha256, len(MP4), "video/mp4")
    assert fake.buckets["renders"]["user_1/render-9.mp4"].data == MP4
    assert ("POST", "/storage/v1/object/copy") in fake.requests
    assert sum(1 for m, p in fake.requests if m == "POST" and p.startswith("/storage/v1/object/artifacts")) == uploads_before
    # publishing again under the same id replaces it
    other = store.put_bytes(b"second", "mp4")
    assert store.publish(other.key, "user_1", "render-9").size == len(b"second")
    assert store.read_bytes(pub.key) == b"second"


def test_signed_url_works_then_expires(store: SupabaseStore, clock):
    ref = store.put_bytes(b"signed bytes", "wav")
    url = store.signed_url(ref.key, 60)
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"signed bytes"
    assert r.headers["content-type"] == "audio/wav"
    clock.now += 61
    r = httpx.get(url)
    assert r.status_code == 400  # the real server's shape for an expired token
    assert r.json() == {"statusCode": "400", "error": "InvalidJWT", "message": "jwt expired"}


def test_batch_signing_answers_per_path_as_storage_api_does(store: SupabaseStore, fake, clock):
    """POST /object/sign/{bucket} with {expiresIn, paths}: one entry per path, in order; a missing
    object is a per-path error, not a failed request (supabase-py sends expiresIn as a string)."""
    a, b = store.put_bytes(b"first", "png"), store.put_bytes(b"second", "png")
    pa, pb = (store.locate(r.key)[1] for r in (a, b))
    missing = "sha256/00/" + "0" * 64 + ".png"
    out = store.client.storage.from_("artifacts").create_signed_urls([pb, missing, pa, pb], 60)
    assert [(o["path"], o["error"]) for o in out] == [
        (pb, None), (missing, "Either the object does not exist or you do not have access to it"), (pa, None), (pb, None)]
    assert (out[1]["signedURL"], out[1]["signedUrl"]) == (None, None)
    assert httpx.get(out[0]["signedURL"]).content == b"second"
    assert httpx.get(out[2]["signedURL"]).content == b"first"
    assert [p for m, p in fake.requests if m == "POST" and "/sign/" in p] == ["/storage/v1/object/sign/artifacts"], "one request"
    clock.now += 61
    assert httpx.get(out[0]["signedURL"]).json()["message"] == "jwt expired"

    auth = {"Authorization": f"Bearer {KEY}", "apikey": KEY}
    raw = httpx.post(f"{fake.url}/storage/v1/object/sign/nope", json={"expiresIn": 60, "paths": [pa]}, headers=auth)
    assert raw.status_code == 200 and raw.json() == [
        {"error": "Either the object does not exist or you do not have access to it", "path": pa, "signedURL": None}]
    for body, message in [({"expiresIn": 60}, "body must have required property 'paths'"),
                          ({"expiresIn": 60, "paths": []}, "body/paths must NOT have fewer than 1 items"),
                          ({"expiresIn": 0, "paths": [pa]}, "body/expiresIn must be >= 1"),
                          ({"expiresIn": "soon", "paths": [pa]}, "body/expiresIn must be integer"),
                          ({"expiresIn": 60, "paths": [{"p": 1}]}, "body/paths/0 must be string")]:
        r = httpx.post(f"{fake.url}/storage/v1/object/sign/artifacts", json=body, headers=auth)
        assert (r.status_code, r.json()) == (400, {"statusCode": "400", "error": "Bad Request", "message": message}), body
    r = httpx.post(f"{fake.url}/storage/v1/object/sign/artifacts", json={"expiresIn": 60, "paths": [pa]}, headers={"Authorization": "Bearer nope"})
    assert (r.status_code, r.json()["statusCode"]) == (400, "403")


def test_cleanup_by_listing(store: SupabaseStore, fake, clock):
    old = [store.put_bytes(f"old {i}".encode(), "png") for i in range(4)] + [store.put_bytes(b"old video", "mp4")]
    pub = store.publish(old[-1].key, "o", "kept")  # the renders bucket takes MP4s (and JSON) only
    clock.now += 3 * 86400
    new = store.put_bytes(b"new", "png")
    assert store.cleanup(2 * 86400) == 5
    assert not any(store.exists(r.key) for r in old)
    assert store.exists(new.key)
    assert store.exists(pub.key)
    assert store.cleanup(2 * 86400) == 0


def test_wrong_key_is_a_clear_error(fake):
    bad = SupabaseStore.connect(fake.url, "not-the-key", timeout=5)
    with pytest.raises(CapabilityError) as e:
        bad.put_bytes(b"x", "png")
    assert e.value.code == "storage_unavailable"
    assert "403" in e.value.message and e.value.retryable is False


def test_missing_bucket_is_not_artifact_not_found(fake):
    store = SupabaseStore.connect(fake.url, KEY, artifacts_bucket="nope", timeout=5)
    with pytest.raises(CapabilityError) as e:
        store.read_bytes("artifacts/sha256/00/" + "0" * 64 + ".png")
    assert e.value.code == "storage_unavailable"
    assert "Bucket not found" in e.value.message


def test_unreachable_store_is_storage_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens: connection refused
    store = SupabaseStore.connect(f"http://127.0.0.1:{port}", KEY, timeout=5)
    for call in (lambda: store.put_bytes(b"x", "png"), lambda: store.exists("renders/a/b.mp4"),
                 lambda: store.signed_url("renders/a/b.mp4"), lambda: store.cleanup(1)):
        with pytest.raises(CapabilityError) as e:
            call()
        assert (e.value.code, e.value.http_status, e.value.retryable) == ("storage_unavailable", 503, True)


def test_unresolvable_host_is_storage_unavailable(monkeypatch):
    real = socket.getaddrinfo

    def no_dns(host, *args, **kw):  # a DNS failure, simulated so the test never leaves the machine
        if host == "storage.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    store = SupabaseStore.connect("http://storage.invalid", KEY, timeout=5)
    with pytest.raises(CapabilityError) as e:
        store.exists("renders/a/b.mp4")
    assert (e.value.code, e.value.http_status, e.value.retryable) == ("storage_unavailable", 503, True)


def test_get_store_selects_supabase(fake, tmp_path: Path):
    settings = Settings(CANVASCAST_DATA_DIR=tmp_path, ARTIFACT_STORE="supabase", SUPABASE_URL=fake.url, SUPABASE_SERVICE_ROLE_KEY=KEY)
    store = get_store(settings)
    assert isinstance(store, SupabaseStore)
    assert store.read_bytes(store.put_bytes(b"via settings", "json").key) == b"via settings"


def test_traversal_keys_never_reach_supabase(store: SupabaseStore, fake):
    before = len(fake.requests)
    for key in ["artifacts/../renders/x.mp4", "renders/a/../../b.mp4", "/etc/passwd", "artifacts\\sha256", "renders/a/b.mp4\x00"]:
        with pytest.raises(CapabilityError) as e:
            store.read_bytes(key)
        assert e.value.code == "invalid_key"
    assert len(fake.requests) == before


def _router_app(store, tmp_path: Path, clock=None):
    from fastapi import FastAPI

    from modal_functions.api.errors import install_error_handlers
    from modal_functions.api.routers import artifacts
    from modal_functions.settings import get_settings
    from modal_functions.storage.signing import UrlSigner

    settings = Settings(CANVASCAST_DATA_DIR=tmp_path, COMPUTE_TOKEN=None)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(artifacts.router)
    app.dependency_overrides[get_settings] = lambda: settings
    app.state.artifact_store = store
    app.state.artifact_signer = UrlSigner("router-secret", "http://testserver", clock=clock or FakeClock())
    return app


def test_router_with_supabase_redirects_to_supabase_signed_url(store: SupabaseStore, tmp_path: Path, clock):
    from fastapi.testclient import TestClient

    app = _router_app(store, tmp_path, clock)
    with TestClient(app) as client:
        ref = client.post("/v1/artifacts", content=MP4, params={"ext": "mp4"})
        assert ref.status_code == 201, ref.text
        url = ref.json()["url"]
        assert "/storage/v1/object/sign/artifacts/" in url  # the store's own signed URL
        ours = app.state.artifact_signer.url(ref.json()["key"], 60)
        r = client.get(ours, follow_redirects=False)
        assert r.status_code == 307
        assert "/storage/v1/object/sign/artifacts/" in r.headers["location"]
        assert httpx.get(r.headers["location"]).content == MP4


def test_router_upload_to_unreachable_store_is_503(tmp_path: Path):
    from fastapi.testclient import TestClient

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    store = SupabaseStore.connect(f"http://127.0.0.1:{port}", KEY, timeout=5)
    with TestClient(_router_app(store, tmp_path)) as client:
        r = client.post("/v1/artifacts", content=b"x", params={"ext": "png"})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "storage_unavailable" and r.json()["error"]["retryable"] is True
    assert not list((tmp_path / "uploads").glob("*.part"))


def test_the_image_cache_round_trips_through_the_renders_bucket(store: SupabaseStore):
    """Its JSON pointers live in `renders` next to the MP4s: the bucket's MIME list must allow them."""
    from modal_functions.images.cache import CachedImage, ImageCache

    image = store.put_bytes(b"\x89PNG\r\n\x1a\n....", "png", "image/png")
    cache = ImageCache(store)
    cache.put("k" * 64, CachedImage(image, "gemini-2.5-flash-image", 1024, 576))
    hit = cache.get("k" * 64)
    assert hit is not None and hit.artifact.key == image.key and (hit.width, hit.height) == (1024, 576)


def _uploads(fake) -> int:
    return sum(1 for m, p in fake.requests if m == "POST" and p.startswith(("/storage/v1/object/artifacts/", "/storage/v1/object/renders/")))


def test_an_image_cache_hit_keeps_the_image_past_the_next_cleanup(store: SupabaseStore, fake, clock):
    """Cleanup ages objects by updated_at: a hit must move it, or a job served a 6-day-old
    cached image loses it to the next 7-day cleanup."""
    from modal_functions.images.cache import CachedImage, ImageCache

    image = store.put_bytes(b"\x89PNG generated once", "png", "image/png")
    cache = ImageCache(store)
    cache.put("c" * 64, CachedImage(image, "gemini-2.5-flash-image", 1024, 576))
    clock.now += 6 * 86400
    assert cache.get("c" * 64) is not None
    clock.now += 2 * 86400
    store.cleanup(7 * 86400, include_renders=True)  # (removes the pointer's staging copy in artifacts/)
    assert store.exists(image.key)
    _, path = store.locate(image.key)
    stored = fake.buckets["artifacts"][path]
    assert (stored.data, stored.content_type) == (b"\x89PNG generated once", "image/png")
    # the refresh re-uploads only objects older than an hour: hits in a row cost `info` requests
    assert cache.get("c" * 64) is not None  # refreshes both again (2 days old)
    before = _uploads(fake)
    clock.now += 60
    assert cache.get("c" * 64) is not None
    assert _uploads(fake) == before


def test_touch(store: SupabaseStore, fake, clock):
    ref = store.put_bytes(b"touched", "png")
    _, path = store.locate(ref.key)
    clock.now += 5 * 86400
    assert store.touch(ref.key) is True
    assert fake.buckets["artifacts"][path].updated_at == clock.now
    assert store.touch("artifacts/sha256/00/" + "0" * 64 + ".png") is False


@pytest.mark.parametrize("expires_in", [0, -1, 7 * 86400 + 1, 10**14])
def test_signed_url_lifetime_is_checked(store: SupabaseStore, fake, expires_in):
    ref = store.put_bytes(b"signed", "png")
    fake.requests.clear()
    with pytest.raises(CapabilityError) as e:
        store.signed_url(ref.key, expires_in)
    assert (e.value.code, e.value.http_status) == ("bad_request", 400)
    assert fake.requests == []  # refused before asking Storage


def test_put_file_errors_never_name_the_file(store: SupabaseStore, tmp_path: Path):
    check_put_file_errors_never_name_the_file(store, tmp_path)


def test_get_to_file_errors_name_the_key_not_the_destination(store: SupabaseStore, tmp_path: Path):
    check_get_to_file_errors_name_the_key_not_the_destination(store, tmp_path)
