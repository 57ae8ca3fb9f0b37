"""fetch_input: artifact keys and our own signed URLs come from the store; others are refused or fetched safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from modal_functions.errors import CapabilityError
from modal_functions.settings import Settings
from modal_functions.storage.inputs import fetch_input
from modal_functions.storage.local import LocalStore


@pytest.fixture
def setup(tmp_path: Path):
    settings = Settings(CANVASCAST_DATA_DIR=tmp_path, COMPUTE_PORT=8123)
    store = LocalStore(tmp_path / "store", settings.base_url, "input-secret")
    return settings, store


def test_key_and_signed_url(setup, tmp_path: Path):
    settings, store = setup
    ref = store.put_bytes(b"audio", "wav")
    assert fetch_input(ref.key, tmp_path / "a.wav", store=store, settings=settings).read_bytes() == b"audio"
    url = store.signed_url(ref.key, 60)
    assert url.startswith("http://127.0.0.1:8123/")
    assert fetch_input(url, tmp_path / "b.wav", store=store, settings=settings).read_bytes() == b"audio"
    # a docker-network host name for the same plane, plain http: still ours, verified by signature
    other_host = url.replace("127.0.0.1:8123", "compute:8000")
    assert fetch_input(other_host, tmp_path / "c.wav", store=store, settings=settings).read_bytes() == b"audio"


def test_our_signed_url_under_a_public_url_with_a_path_is_read_from_the_store(tmp_path: Path):
    # https to a name that resolves to loopback: fetched over the network, it would be refused
    settings = Settings(CANVASCAST_DATA_DIR=tmp_path, COMPUTE_PUBLIC_URL="https://127.0.0.1:18999/compute")
    store = LocalStore(tmp_path / "store", settings.base_url, "input-secret")
    ref = store.put_bytes(b"audio", "wav")
    url = store.signed_url(ref.key, 60)
    assert url.startswith("https://127.0.0.1:18999/compute/v1/artifacts/")
    assert fetch_input(url, tmp_path / "a.wav", store=store, settings=settings).read_bytes() == b"audio"
    # percent-encoded as a client may send it: the server decodes it, and so do we
    encoded = url.replace(".wav?", "%2Ewav?")
    assert fetch_input(encoded, tmp_path / "b.wav", store=store, settings=settings).read_bytes() == b"audio"


def test_tampered_signed_url_refused(setup, tmp_path: Path):
    settings, store = setup
    ref = store.put_bytes(b"audio", "wav")
    url = store.signed_url(ref.key, 60)
    with pytest.raises(CapabilityError) as e:
        fetch_input(url[:-1] + ("0" if url[-1] != "0" else "1"), tmp_path / "x", store=store, settings=settings)
    assert e.value.code == "bad_signature"
    with pytest.raises(CapabilityError) as e:
        fetch_input("http://127.0.0.1:8123/v1/artifacts/../../signing-secret?exp=1&sig=0", tmp_path / "x", store=store, settings=settings)
    assert e.value.code == "invalid_key"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("ref", ["http://example.com/a.png", "file:///etc/passwd", "data:,x", "../x.png", "https://127.0.0.1/a.png",
                                 "https://169.254.169.254/latest/meta-data/", "https://[::1/a.wav", "http://[::1/a.png"])
def test_other_refs_refused(setup, tmp_path: Path, ref: str):
    settings, store = setup
    with pytest.raises(CapabilityError) as e:
        fetch_input(ref, tmp_path / "x", store=store, settings=settings)
    assert e.value.code == "fetch_refused"
