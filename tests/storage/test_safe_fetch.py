"""safe_fetch: refusals by address (after DNS), https only, redirects re-vetted, size cap, timeout.

Nothing leaves the machine: host names go through an injected resolver, and the one
server is a local TLS server reached as `public.example` (test-only allow_hosts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local_tls import HOST, TLSServer
from modal_functions.errors import CapabilityError
from modal_functions.fetch import address_problem, safe_fetch

MAX = 4096


def fake_dns(table: dict[str, list[str]]):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    resolve.calls = calls
    return resolve


def fetch_error(url: str, dest: Path, **kw) -> CapabilityError:
    kw.setdefault("max_bytes", MAX)
    kw.setdefault("timeout", 5)
    with pytest.raises(CapabilityError) as e:
        safe_fetch(url, dest, **kw)
    assert not dest.exists()
    assert [p for p in dest.parent.iterdir() if p.name.endswith(".part")] == []
    return e.value


@pytest.fixture(scope="module")
def server():
    with TLSServer(big_size=MAX * 4) as s:
        yield s


@pytest.fixture
def resolver(server):
    return fake_dns({HOST: ["127.0.0.1"], "internal.example": ["10.0.0.5"], "meta.example": ["169.254.169.254"],
                     "mixed.example": ["93.184.216.34", "192.168.1.10"]})


def local(server, resolver, **kw):
    return dict(resolver=resolver, allow_hosts={HOST}, ssl_context=server.client_context, **kw)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/x",
        "https://[fd00:ec2::254]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[fe80::1]/x",
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://172.16.0.1/x",
        "https://192.168.0.1/x",
        "https://100.64.0.1/x",
    ],
)
def test_refuses_internal_addresses(url: str, tmp_path: Path):
    resolve = fake_dns({})
    err = fetch_error(url, tmp_path / "out", resolver=resolve)
    assert (err.code, err.http_status, err.retryable) == ("fetch_refused", 400, False)
    assert resolve.calls == []  # IP literals are checked without DNS


@pytest.mark.parametrize("host,why", [("internal.example", "private"), ("meta.example", "metadata"), ("mixed.example", "private")])
def test_refuses_after_dns_resolution(host: str, why: str, tmp_path: Path, resolver):
    err = fetch_error(f"https://{host}/a.png", tmp_path / "out", resolver=resolver)
    assert err.code == "fetch_refused"
    assert why in err.message
    assert resolver.calls == [host]


@pytest.mark.parametrize("url", ["http://example.com/a.png", "ftp://example.com/a", "file:///etc/passwd", "/relative", "https://user:pw@example.com/a"])
def test_https_only_and_no_credentials(url: str, tmp_path: Path):
    assert fetch_error(url, tmp_path / "out", resolver=fake_dns({})).code == "fetch_refused"


def test_address_policy_allows_public_addresses():
    assert address_problem("93.184.216.34") is None
    assert address_problem("2606:2800:220:1:248:1893:25c8:1946") is None
    assert "metadata" in address_problem("169.254.169.254")
    assert address_problem("64:ff9b::a00:1")  # NAT64 of 10.0.0.1
    assert "site-local" in address_problem("fec0::1")  # Python counts it neither private nor reserved


def test_fetches_through_pinned_ip(server, resolver, tmp_path: Path):
    dest = safe_fetch(server.url("/ok"), tmp_path / "in" / "a.txt", max_bytes=MAX, timeout=5, **local(server, resolver))
    assert dest.read_bytes() == b"hello"
    assert list(dest.parent.iterdir()) == [dest]


def test_a_download_cut_short_of_its_content_length_is_a_retryable_failure(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/cut"), tmp_path / "a", **local(server, resolver))
    assert (err.code, err.retryable) == ("fetch_failed", True)
    assert "100 of 1000 bytes" in err.message


def test_follows_safe_relative_redirect(server, resolver, tmp_path: Path):
    dest = safe_fetch(server.url("/redirect?to=/ok"), tmp_path / "a", max_bytes=MAX, timeout=5, **local(server, resolver))
    assert dest.read_bytes() == b"hello"


def test_redirect_to_loopback_refused(server, resolver, tmp_path: Path):
    before = len(server.requests)
    target = f"https://127.0.0.1:{server.port}/ok"
    err = fetch_error(server.url(f"/redirect?to={target}"), tmp_path / "a", **local(server, resolver))
    assert (err.code, err.http_status) == ("fetch_refused", 400)
    assert "loopback" in err.message
    assert server.requests[before:] == [f"/redirect?to={target}"]  # /ok never requested


def test_redirect_to_private_name_refused(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/redirect?to=https://internal.example/x"), tmp_path / "a", **local(server, resolver))
    assert err.code == "fetch_refused"


def test_redirect_to_a_malformed_url_refused(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/redirect?to=https://[::1/x"), tmp_path / "a", **local(server, resolver))
    assert err.code == "fetch_refused" and "malformed" in err.message


def test_redirect_to_http_refused(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/redirect?to=http://public.example/ok"), tmp_path / "a", **local(server, resolver))
    assert err.code == "fetch_refused"


def test_too_many_redirects(server, resolver, tmp_path: Path):
    before = len(server.requests)
    err = fetch_error(server.url("/loop"), tmp_path / "a", **local(server, resolver))
    assert err.code == "fetch_refused"
    assert len(server.requests) - before == 6  # the first request and 5 redirects


def test_oversize_content_length_refused(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/big"), tmp_path / "a", **local(server, resolver))
    assert (err.code, err.http_status) == ("fetch_too_large", 413)


def test_oversize_streamed_body_refused(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/big-chunked"), tmp_path / "a", **local(server, resolver))
    assert (err.code, err.http_status) == ("fetch_too_large", 413)


def test_timeout(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/hang"), tmp_path / "a", timeout=0.3, **local(server, resolver))
    assert (err.code, err.http_status, err.retryable) == ("fetch_timeout", 504, True)


@pytest.mark.parametrize("path", ["/drip-head", "/drip-body"])
def test_the_deadline_cuts_a_server_that_drips(path, server, resolver, tmp_path: Path):
    """Each byte comes well inside the socket timeout, so only the overall deadline can end the fetch:
    mid-head (it used to wait for the whole head), and mid-body as a timeout, never as a short file."""
    err = fetch_error(server.url(path), tmp_path / "a", timeout=0.5, **local(server, resolver))
    assert (err.code, err.retryable) == ("fetch_timeout", True)
    assert server.drips.get(timeout=60) == "cut"  # the fetch hung up before the server was done


def test_upstream_errors(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/status/503"), tmp_path / "a", **local(server, resolver))
    assert (err.code, err.http_status, err.retryable) == ("fetch_failed", 502, True)
    err = fetch_error(server.url("/status/404"), tmp_path / "a", **local(server, resolver))
    assert (err.code, err.retryable) == ("fetch_failed", False)


def test_untrusted_certificate_fails(server, resolver, tmp_path: Path):
    err = fetch_error(server.url("/ok"), tmp_path / "a", resolver=resolver, allow_hosts={HOST})
    assert (err.code, err.retryable) == ("fetch_failed", False)


def test_connection_refused_is_retryable(tmp_path: Path, server):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    err = fetch_error(f"https://{HOST}:{port}/x", tmp_path / "a", resolver=fake_dns({HOST: ["127.0.0.1"]}), allow_hosts={HOST})
    assert (err.code, err.http_status, err.retryable) == ("fetch_failed", 502, True)


@pytest.mark.parametrize("host", ["localhost", "2130706433", "127.1", "0x7f000001", "0"])
def test_system_resolver_forms_of_loopback_refused(host: str, tmp_path: Path):
    # the real resolver: numeric forms and /etc/hosts are answered locally, no query leaves the machine
    err = fetch_error(f"https://{host}/x", tmp_path / "out")
    assert err.code == "fetch_refused"
    assert "resolves to" in err.message  # refused after resolution, not by string matching


def test_deadline_covers_dns(tmp_path: Path):
    import threading

    release = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        release.wait(10)  # a resolver that never answers in time
        return ["93.184.216.34"]

    try:
        err = fetch_error("https://slow-dns.example/x", tmp_path / "out", resolver=stuck, timeout=0.2)
    finally:
        release.set()
    assert (err.code, err.retryable) == ("fetch_timeout", True)
