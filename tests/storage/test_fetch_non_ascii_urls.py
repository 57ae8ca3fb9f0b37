"""safe_fetch with characters outside ASCII in a URL or a redirect's Location.

http.client sends ASCII only: such a URL crashed the fetch with a UnicodeEncodeError (a job
failed `internal`, not retryable) where a browser, curl or requests sends the characters as
their UTF-8 percent-escapes. Servers that put raw UTF-8 in a Location header are read as
requests reads them (http.client decodes header bytes as latin-1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local_tls import HOST, TLSServer
from modal_functions.errors import CapabilityError
from modal_functions.fetch import check_url, safe_fetch

MAX = 4096


@pytest.fixture(scope="module")
def server():
    with TLSServer() as s:
        yield s


def fetch(server, url: str, dest: Path) -> Path:
    return safe_fetch(url, dest, max_bytes=MAX, timeout=5, resolver=lambda host, port: ["127.0.0.1"],
                      allow_hosts={HOST}, ssl_context=server.client_context)


def test_a_non_ascii_url_is_fetched_with_utf8_percent_escapes(server, tmp_path: Path):
    before = len(server.requests)
    dest = fetch(server, server.url("/ok?name=café&city=Zürich"), tmp_path / "a.txt")
    assert dest.read_bytes() == b"hello"
    assert server.requests[before:] == ["/ok?name=caf%C3%A9&city=Z%C3%BCrich"]
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_existing_escapes_are_kept_as_they_are(server, tmp_path: Path):
    before = len(server.requests)
    fetch(server, server.url("/ok?name=caf%C3%A9%20x"), tmp_path / "a.txt")
    assert server.requests[before:] == ["/ok?name=caf%C3%A9%20x"]


def test_a_location_with_raw_utf8_is_followed(server, tmp_path: Path):
    before = len(server.requests)
    # the test server writes its Location as latin-1: these code points go out as the UTF-8 bytes of "café"
    raw_utf8 = "café".encode().decode("latin-1")
    target = f"/ok?q={raw_utf8}".replace("?", "%3F").replace("=", "%3D").replace("Ã", "%C3%83").replace("©", "%C2%A9")
    dest = fetch(server, server.url(f"/redirect?to={target}"), tmp_path / "a.txt")
    assert dest.read_bytes() == b"hello"
    assert server.requests[before + 1:] == ["/ok?q=caf%C3%A9"]


def test_a_latin1_location_is_followed(server, tmp_path: Path):
    before = len(server.requests)
    dest = fetch(server, server.url("/redirect?to=%2Fok%3Fq%3Dcaf%C3%A9"), tmp_path / "a.txt")  # sent as the byte E9
    assert dest.read_bytes() == b"hello"
    assert server.requests[before + 1:] == ["/ok?q=caf%C3%A9"]


def test_a_url_that_cannot_be_encoded_is_refused(tmp_path: Path):
    with pytest.raises(CapabilityError) as e:
        check_url("https://public.example/a\ud800.png")  # a lone surrogate: no UTF-8 for it
    assert (e.value.code, e.value.http_status) == ("fetch_refused", 400)
