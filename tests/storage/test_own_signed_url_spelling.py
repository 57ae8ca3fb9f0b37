"""Our own https signed URLs, spelled differently from COMPUTE_PUBLIC_URL, are still ours.

`own_signed_url` compared the URL's netloc with the base URL's as text, so the same host and
port spelled another way (the default port written out or left out, a fully qualified name's
trailing dot) was "another host": the URL went to safe_fetch, over the network, and was refused
when the host is private (an internal compute plane), a job failing `fetch_refused` on its own
artifact. URL libraries (a browser's or Node's `URL`) drop a default port, so such spellings
do arrive. Host and port are now compared as a server sees them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modal_functions.settings import Settings
from modal_functions.storage.inputs import fetch_input, own_signed_url
from modal_functions.storage.local import LocalStore

SIG = "0" * 64
PATH = "/v1/artifacts/artifacts/sha256/ab/" + "ab" * 32 + f".wav?exp=1&sig={SIG}"


@pytest.mark.parametrize("base, ref", [
    ("https://compute.internal", "https://compute.internal:443" + PATH),
    ("https://compute.internal:443", "https://compute.internal" + PATH),
    ("https://compute.internal", "https://compute.internal." + PATH),
    ("https://compute.internal.", "https://Compute.Internal" + PATH),
    ("https://compute.internal:8443/c", "https://COMPUTE.internal.:8443/c" + PATH),
    ("https://[fd00::5]", "https://[FD00::5]:443" + PATH),
])
def test_the_same_host_and_port_spelled_differently_is_ours(base: str, ref: str):
    assert own_signed_url(ref, base) is not None


@pytest.mark.parametrize("base, ref", [
    ("https://compute.internal", "https://compute.internal:8443" + PATH),
    ("https://compute.internal:8443", "https://compute.internal" + PATH),
    ("https://compute.internal", "https://other.internal" + PATH),
    ("https://compute.internal", "https://compute.internal.evil.example" + PATH),
])
def test_another_host_or_port_is_not_ours(base: str, ref: str):
    assert own_signed_url(ref, base) is None


def test_our_url_with_the_default_port_written_out_is_read_from_the_store(tmp_path: Path):
    # a private compute plane: fetched over the network, its own URL would be refused
    settings = Settings(CANVASCAST_DATA_DIR=tmp_path, COMPUTE_PUBLIC_URL="https://10.0.0.5")
    store = LocalStore(tmp_path / "store", settings.base_url, "input-secret")
    ref = store.put_bytes(b"audio", "wav")
    url = store.signed_url(ref.key, 60)
    spelled = url.replace("https://10.0.0.5/", "https://10.0.0.5:443/")
    assert fetch_input(spelled, tmp_path / "a.wav", store=store, settings=settings).read_bytes() == b"audio"
