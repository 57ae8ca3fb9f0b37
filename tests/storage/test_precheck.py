"""Input refs a fetch would refuse are refused at submission: they never take a queue slot."""

from __future__ import annotations

from pathlib import Path

import pytest

from modal_functions.config import load_config
from modal_functions.errors import CapabilityError
from modal_functions.runtime.inhouse import InHouseBackend
from modal_functions.runtime.testing import write_config
from modal_functions.settings import Settings
from modal_functions.storage import get_store
from modal_functions.storage.inputs import precheck_refs

REFUSED = ["file:///etc/passwd", "http://example.com/a.wav", "data:audio/wav;base64,AAAA", "gopher://x/a", "/etc/passwd",
           "https://127.0.0.1/a.wav", "https://[::1]/a.wav", "https://10.0.0.7/a.wav", "https://169.254.169.254/latest",
           "https://[::1/a.wav", "https:///a.wav", "https://user:pw@example.com/a.wav", "https://example.com:99999/a.wav",
           "https://exa mple.com/a.wav", "https://example.com/a b.wav", "https://[fec0::1]/a.wav"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"))


@pytest.mark.parametrize("ref", REFUSED)
def test_refs_the_fetch_would_refuse(settings, ref):
    with pytest.raises(CapabilityError) as e:
        precheck_refs({ref: "audio"}, base_url=settings.base_url, store=get_store(settings))
    assert e.value.code == "fetch_refused" and e.value.http_status == 400 and "audio" in e.value.message


def test_keys_must_exist_and_good_refs_pass(settings):
    store = get_store(settings)
    ref = store.put_bytes(b"RIFF....WAVE", "wav", "audio/wav")
    signed = store.signed_url(ref.key, 600)
    precheck_refs({ref.key: "audio", signed: "music", "https://cdn.example.com/a.wav": "narration"},
                  base_url=settings.base_url, store=store)
    with pytest.raises(CapabilityError) as e:
        precheck_refs({"artifacts/sha256/00/" + "0" * 64 + ".wav": "audio"}, base_url=settings.base_url, store=store)
    assert e.value.code == "artifact_not_found" and e.value.http_status == 422


def test_our_signed_urls_are_checked_as_the_fetch_would(settings):
    """Key, signature and existence: a URL shaped like ours is read from the store, never fetched."""
    store = get_store(settings)
    ref = store.put_bytes(b"RIFF....WAVE", "wav", "audio/wav")
    signed = store.signed_url(ref.key, 600)
    cases = {
        "http://anything" + "/v1/artifacts/../../etc/passwd": "invalid_key",
        signed.replace("sig=", "sig=0"): "bad_signature",
        store.signer.url("artifacts/sha256/00/" + "0" * 64 + ".wav", 600): "artifact_not_found",
    }
    for url, code in cases.items():
        with pytest.raises(CapabilityError) as e:
            precheck_refs({url: "audio"}, base_url=settings.base_url, store=store, signer=store.signer)
        assert e.value.code == code and e.value.message.startswith("audio: "), (url, e.value.code)


def test_a_refused_ref_never_becomes_a_job(tmp_path, settings):
    path = write_config(tmp_path / "modal.toml", inhouse={"transcribe_audio": {"workers": 1, "queue": 1, "preload": False}})
    backend = InHouseBackend(load_config(path), settings, kinds=["transcribe_audio"])
    try:
        for ref in ("file:///etc/passwd", "https://127.0.0.1/a.wav", "https://10.1.2.3/a.wav"):  # more than the queue holds
            with pytest.raises(CapabilityError) as e:
                backend.submit("transcribe_audio", {"audio": ref})
            assert e.value.code == "fetch_refused"
        capacity = backend.capacity()["transcribe_audio"]
        assert capacity.busy == 0 and capacity.queued == 0
    finally:
        backend.close()
