"""LocalStore: content addressing, atomic writes, publish copies, retention by age."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modal_functions.errors import CapabilityError
from modal_functions.settings import Settings
from modal_functions.storage import get_store
from modal_functions.storage.local import LocalStore
from store_contract import check_get_to_file_errors_name_the_key_not_the_destination, check_put_file_errors_never_name_the_file


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> LocalStore:
    return LocalStore(tmp_path / "store", "http://127.0.0.1:9", "test-secret", clock=clock)


def test_same_bytes_give_same_key(store: LocalStore, tmp_path: Path):
    data = b"\x89PNG same bytes"
    a = store.put_bytes(data, "png")
    src = tmp_path / "same.bin"
    src.write_bytes(data)
    b = store.put_file(src, ".PNG")
    digest = hashlib.sha256(data).hexdigest()
    assert a.key == b.key == f"artifacts/sha256/{digest[:2]}/{digest}.png"
    assert a.sha256 == b.sha256 == digest
    assert a.size == len(data)
    assert a.content_type == "image/png"
    assert store.read_bytes(a.key) == data
    assert store.put_bytes(b"other bytes", "png").key != a.key


def test_media_content_types_never_text_plain(store: LocalStore):
    for ext, ctype in {"mp4": "video/mp4", "wav": "audio/wav", "png": "image/png", "json": "application/json",
                       "srt": "application/x-subrip", "vtt": "text/vtt", "xyz": "application/octet-stream"}.items():
        assert store.put_bytes(ext.encode(), ext).content_type == ctype


def test_get_to_file_and_missing(store: LocalStore, tmp_path: Path):
    ref = store.put_bytes(b"payload", "wav")
    dest = store.get_to_file(ref.key, tmp_path / "out" / "a.wav")
    assert dest.read_bytes() == b"payload"
    missing = "artifacts/sha256/00/" + "0" * 64 + ".wav"
    assert not store.exists(missing)
    for call in (lambda: store.read_bytes(missing), lambda: store.get_to_file(missing, tmp_path / "b.wav")):
        with pytest.raises(CapabilityError) as e:
            call()
        assert (e.value.code, e.value.http_status) == ("artifact_not_found", 404)
    assert not (tmp_path / "b.wav").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_no_temp_files_left(store: LocalStore, tmp_path: Path):
    store.put_bytes(b"x" * 10_000, "bin")
    with pytest.raises(CapabilityError):
        store.put_file(tmp_path / "does-not-exist", "bin")
    assert list((store.root / ".tmp").iterdir()) == []


def test_publish_is_a_copy(store: LocalStore):
    ref = store.put_bytes(b"video bytes", "mp4")
    pub = store.publish(ref.key, "user_1", "render-42")
    assert pub.key == "renders/user_1/render-42.mp4"
    assert (pub.sha256, pub.size, pub.content_type) == (ref.sha256, ref.size, "video/mp4")
    assert store.read_bytes(pub.key) == b"video bytes"
    assert store.path_for(pub.key).stat().st_ino != store.path_for(ref.key).stat().st_ino
    # republishing the same id replaces it
    ref2 = store.put_bytes(b"second take", "mp4")
    assert store.publish(ref2.key, "user_1", "render-42").sha256 == ref2.sha256
    assert store.read_bytes(pub.key) == b"second take"
    with pytest.raises(CapabilityError) as e:
        store.publish(ref.key, "../etc", "x")
    assert e.value.code == "invalid_key"


def test_cleanup_by_age(store: LocalStore, clock: FakeClock):
    old = store.put_bytes(b"old", "png")
    pub = store.publish(old.key, "o", "kept")
    clock.now += 3 * 86400
    new = store.put_bytes(b"new", "png")
    assert store.cleanup(2 * 86400) == 1
    assert not store.exists(old.key)
    assert store.exists(new.key)
    assert store.exists(pub.key)  # published results are not artifacts
    # the emptied <aa> directory is pruned
    assert not store.path_for(old.key).parent.exists()


def test_reupload_refreshes_age(store: LocalStore, clock: FakeClock):
    ref = store.put_bytes(b"reused", "png")
    clock.now += 3 * 86400
    store.put_bytes(b"reused", "png")
    assert store.cleanup(2 * 86400) == 0
    assert store.exists(ref.key)


def test_unwritable_root_is_storage_unavailable(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CapabilityError) as e:
        LocalStore(blocker / "store", "http://x", "s")
    assert (e.value.code, e.value.http_status, e.value.retryable) == ("storage_unavailable", 503, True)


def test_get_store_default_is_local_with_persisted_secret(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("ARTIFACT_SIGNING_SECRET", raising=False)
    settings = Settings(CANVASCAST_DATA_DIR=tmp_path, ARTIFACT_STORE="local")
    a = get_store(settings)
    ref = a.put_bytes(b"abc", "txt")
    b = get_store(settings)  # "restart": same secret from the data dir
    assert isinstance(b, LocalStore)
    exp = 2_000_000_000
    assert a.signer.url_at(ref.key, exp) == b.signer.url_at(ref.key, exp)
    assert oct((tmp_path / "signing-secret").stat().st_mode & 0o777) == "0o600"
    assert b.read_bytes(ref.key) == b"abc"


def test_get_store_supabase_needs_credentials(tmp_path: Path):
    settings = Settings(CANVASCAST_DATA_DIR=tmp_path, ARTIFACT_STORE="supabase", SUPABASE_URL=None, SUPABASE_SERVICE_ROLE_KEY=None)
    with pytest.raises(RuntimeError, match="SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"):
        get_store(settings)


def test_stale_temp_files_removed(store: LocalStore, clock: FakeClock):
    stale = store.root / ".tmp" / ".deadbeef.part"
    stale.write_bytes(b"half")
    os.utime(stale, (clock.now - 7200, clock.now - 7200))
    store.cleanup(86400)
    assert not stale.exists()


def test_concurrent_puts_of_same_bytes(store: LocalStore):
    from concurrent.futures import ThreadPoolExecutor

    data = bytes(range(256)) * 512
    with ThreadPoolExecutor(8) as pool:
        refs = list(pool.map(lambda _: store.put_bytes(data, "bin"), range(16)))
    assert len({r.key for r in refs}) == 1
    assert store.read_bytes(refs[0].key) == data
    assert list((store.root / ".tmp").iterdir()) == []


def test_secret_created_once_under_races(tmp_path: Path):
    from concurrent.futures import ThreadPoolExecutor

    from modal_functions.storage.signing import load_or_create_secret

    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: load_or_create_secret(tmp_path / "d"), range(16)))
    assert len(secrets) == 1 and len(secrets.pop()) == 64
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["signing-secret"]


# ## Retention of cached images, errors that name no temp files


def test_an_image_cache_hit_keeps_the_image_past_the_next_cleanup(store: LocalStore, clock: FakeClock):
    """A job served a 6-day-old cached image must not lose it to the 7-day cleanup a day later."""
    from modal_functions.images.cache import CachedImage, ImageCache

    image = store.put_bytes(b"\x89PNG generated once", "png")
    cache = ImageCache(store)
    cache.put("c" * 64, CachedImage(image, "gemini-2.5-flash-image", 1024, 576))
    clock.now += 6 * 86400
    hit = cache.get("c" * 64)
    assert hit is not None and hit.artifact.key == image.key
    clock.now += 2 * 86400  # the job (or its render) still uses the image
    store.cleanup(7 * 86400, include_renders=True)  # (removes the pointer's staging copy in artifacts/)
    assert store.exists(image.key)
    assert cache.get("c" * 64) is not None  # the pointer was refreshed too
    # without a hit, the same ages are cleaned up
    clock.now += 8 * 86400
    assert store.cleanup(7 * 86400, include_renders=True) == 2
    assert cache.get("c" * 64) is None


def test_touch(store: LocalStore, clock: FakeClock):
    ref = store.put_bytes(b"touched", "png")
    clock.now += 5 * 86400
    assert store.touch(ref.key) is True
    assert store.path_for(ref.key).stat().st_mtime == clock.now
    assert store.touch("artifacts/sha256/00/" + "0" * 64 + ".png") is False


@pytest.mark.parametrize("expires_in", [0, -1, 7 * 86400 + 1, 10**14, 1.5, True])
def test_signed_url_lifetime_is_checked(store: LocalStore, expires_in):
    ref = store.put_bytes(b"signed", "png")
    with pytest.raises(CapabilityError) as e:
        store.signed_url(ref.key, expires_in)
    assert (e.value.code, e.value.http_status) == ("bad_request", 400)


def test_signing_a_missing_key_is_artifact_not_found(store: LocalStore):
    with pytest.raises(CapabilityError) as e:
        store.signed_url("artifacts/sha256/00/" + "0" * 64 + ".png", 60)
    assert (e.value.code, e.value.http_status) == ("artifact_not_found", 404)
    ref = store.put_bytes(b"there", "png")
    assert "sig=" in store.signed_url(ref.key, 7 * 86400)


def test_put_file_errors_never_name_the_file(store: LocalStore, tmp_path: Path):
    """The API hands put_file its spool file: a failure must not put that path in the HTTP body."""
    check_put_file_errors_never_name_the_file(store, tmp_path)


def test_get_to_file_errors_name_the_key_not_the_destination(store: LocalStore, tmp_path: Path):
    check_get_to_file_errors_name_the_key_not_the_destination(store, tmp_path)


def test_publish_reports_size_and_digest_of_what_it_copied(store: LocalStore):
    ref = store.put_bytes(b"published bytes", "mp4")
    pub = store.publish(ref.key, "o", "r1")
    assert (pub.sha256, pub.size) == (ref.sha256, len(b"published bytes"))
    again = store.publish(pub.key, "o", "r2")  # a renders/ key: no digest in it, hashed while copying
    assert (again.sha256, again.size) == (ref.sha256, len(b"published bytes"))


def test_a_put_survives_cleanup_removing_its_empty_shard_directory(store: LocalStore, monkeypatch):
    real_replace = os.replace
    removed: list[Path] = []

    def cleanup_in_between(src, dst):
        if not removed:  # cleanup's rmdir of the (still empty) shard, between mkdir and replace
            removed.append(Path(dst).parent)
            Path(dst).parent.rmdir()
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", cleanup_in_between)
    ref = store.put_bytes(b"survives", "bin")
    assert removed and store.read_bytes(ref.key) == b"survives"
