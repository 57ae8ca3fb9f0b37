"""Safe fetching of https inputs (images, audio, videos named by URL in a job's input).

A job input URL comes from a caller, so fetching it must not become a way into the
machine's own network. `safe_fetch` therefore:

1. accepts `https` only, without credentials in the URL (characters outside ASCII, in the URL
   or a redirect's Location, are sent as their UTF-8 percent-escapes, as a browser sends them);
2. resolves the host itself and refuses when ANY resolved address is loopback,
   private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
   fe80::/10, which covers the 169.254.169.254 metadata endpoint), the AWS IPv6
   metadata address fd00:ec2::254, unspecified, multicast, reserved or otherwise not
   globally routable (IPv4 embedded in IPv6 is unwrapped and checked too);
3. connects to the vetted IP itself (TLS still verifies the certificate for the
   host name, sent as SNI), so a second DNS answer cannot swap in another address
   between the check and the connection (no DNS-rebinding TOCTOU);
4. follows at most 5 redirects by hand, vetting every hop the same way;
5. caps the body: a Content-Length above `max_bytes` is refused before reading,
   and the streamed count is capped too; `Accept-Encoding: identity` so the cap
   counts real bytes;
6. enforces one overall deadline (`timeout` seconds) across DNS, all hops and reads;
7. writes to a temp file beside `dest` and renames it at the end; every failure
   path removes the partial file.

Codes: fetch_refused (400), fetch_too_large (413), fetch_timeout (504, retryable),
fetch_failed (502; retryable for network trouble and upstream 5xx), storage_unavailable
(503, retryable) when our own disk fails the write (full, read-only), as in the stores.

`allow_hosts` is a test-only escape hatch (host names exempt from the address
policy, e.g. a local TLS server); production callers never pass it.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import secrets
import socket
import ssl
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote, urljoin, urlsplit

from .errors import FETCH_FAILED, FETCH_REFUSED, FETCH_TIMEOUT, FETCH_TOO_LARGE, STORAGE_UNAVAILABLE, CapabilityError

Resolver = Callable[[str, int], Iterable[str]]
"""(host, port) -> IP address strings."""

MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
USER_AGENT = "canvascast-compute/0.1 (+safe_fetch)"
_CHUNK = 1 << 16

METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refused(message: str) -> CapabilityError:
    return CapabilityError(FETCH_REFUSED, message, http_status=400)


def split_url(url: str):
    """`urlsplit`, with a malformed URL (e.g. `https://[::1/x`) refused instead of a ValueError."""
    try:
        return urlsplit(url)
    except ValueError as e:
        raise refused(f"malformed URL {url[:200]!r}: {e}") from e


def _failed(message: str, retryable: bool = True) -> CapabilityError:
    return CapabilityError(FETCH_FAILED, message, retryable=retryable, http_status=502)


def _timed_out(url: str) -> CapabilityError:
    return CapabilityError(FETCH_TIMEOUT, f"fetching {url} timed out", retryable=True, http_status=504)


def _too_large(max_bytes: int) -> CapabilityError:
    return CapabilityError(FETCH_TOO_LARGE, f"body exceeds the limit of {max_bytes} bytes", http_status=413)


def _save_failed(url: str, e: OSError) -> CapabilityError:
    """Our disk failed the download (full, read-only): retryable, as the stores' `get_to_file`
    says it, and without our temp path."""
    return CapabilityError(STORAGE_UNAVAILABLE, f"could not save {url}: {e.strerror or type(e).__name__}",
                           retryable=True, http_status=503)


# ## The address policy


def address_problem(ip: str) -> str | None:
    """Why `ip` must not be fetched from, or None when it is a public unicast address."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(str(embedded))
            if inner:
                return f"{inner} (embedded in {addr})"
    if addr in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for attr, label in (
        ("is_loopback", "loopback"),
        ("is_unspecified", "unspecified"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
        ("is_site_local", "site-local"),  # fec0::/10: deprecated, but still routed inside some networks
    ):
        if getattr(addr, attr, False):
            return f"{'an' if label[0] in 'aeiou' else 'a'} {label} address"
    if not addr.is_global:
        return "not a globally routable address"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _resolve(resolver: Resolver, host: str, port: int, deadline: float, url: str) -> list[str]:
    """Run the resolver under the fetch deadline (getaddrinfo itself has no timeout)."""
    done = threading.Event()
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["ips"] = list(resolver(host, port))
        except BaseException as e:  # noqa: BLE001 - handed back to the caller's thread
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name=f"resolve-{host}", daemon=True).start()
    if not done.wait(_remaining(deadline, url)):
        raise _timed_out(url)
    error = box.get("error")
    if isinstance(error, (socket.gaierror, UnicodeError, OSError)):
        raise _failed(f"cannot resolve {host}: {error}") from error
    if error is not None:
        raise error  # type: ignore[misc]
    ips = box["ips"]
    if not ips:
        raise _failed(f"cannot resolve {host}")
    return ips  # type: ignore[return-value]


def check_url(url: str) -> tuple[str, int, str]:
    """Everything about a URL that can be refused without the network: https, no credentials, a
    well-formed host and port, no control characters; return (host, port, request target).
    Submission calls it too (`storage.inputs.precheck_refs`), so such a URL never takes a queue slot."""
    parts = split_url(url)
    if parts.scheme.lower() != "https":
        raise refused(f"only https URLs are fetched, not {parts.scheme or 'a relative URL'!r}")
    if parts.username is not None or parts.password is not None:
        raise refused("credentials in URLs are not accepted")
    try:
        host = parts.hostname
        port = parts.port or 443
    except ValueError as e:
        raise refused(f"malformed URL: {e}") from e
    if not host:
        raise refused("URL has no host")
    if any(c in host for c in "\\\x00 \t\r\n"):
        raise refused("malformed host")
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise refused("malformed host") from e
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(ord(c) < 33 or ord(c) == 127 for c in target):
        raise refused("URL path contains control characters or spaces")
    # http.client sends ASCII only: other characters go as their UTF-8 percent-escapes, as a
    # browser sends them (escapes already there are kept as they are)
    try:
        target = "".join(c if c.isascii() else quote(c, safe="") for c in target)
    except UnicodeEncodeError as e:  # a lone surrogate has no UTF-8
        raise refused("URL contains characters that cannot be encoded") from e
    return host, port, target


def _vet(url: str, resolver: Resolver, allow_hosts: frozenset[str], deadline: float) -> tuple[str, str, int, str]:
    """Check one hop; return (host, vetted ip, port, request target)."""
    host, port, target = check_url(url)

    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        ips = [str(literal)]
    else:
        ips = _resolve(resolver, host, port, deadline, url)
    if host not in allow_hosts:
        for ip in ips:
            problem = address_problem(ip)
            if problem:
                raise refused(f"{host} resolves to {ip}, {problem}")
    return host, ips[0], port, target


# ## One pinned HTTPS connection


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a vetted IP, but verifies TLS for (and sends SNI/Host of) the URL's host."""

    def __init__(self, host: str, ip: str, port: int, *, timeout: float, context: ssl.SSLContext, guard: "_Deadline"):
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip
        self._guard = guard

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = self._context.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        self._guard.watch(tls)  # the deadline covers the handshake too (a server may drip that as well)
        tls.do_handshake()
        self.sock = tls


class _Deadline:
    """Shuts the connection's socket down when the fetch's deadline passes. A socket timeout bounds
    each read, not the fetch: a server dripping its status line and headers a byte at a time would
    otherwise hold a worker for as long as it likes. A read cut this way ends in an error or an early
    end of stream; `expired` tells the caller it was the deadline."""

    def __init__(self, deadline: float):
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


def _remaining(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timed_out(url)
    return left


def safe_fetch(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,
    resolver: Resolver | None = None,
    allow_hosts: Iterable[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    max_redirects: int = MAX_REDIRECTS,
) -> Path:
    """Download `url` to `dest` under the policy above; returns `dest`."""
    resolver = resolver or system_resolver
    allowed = frozenset(h.lower() for h in allow_hosts)
    dest = Path(dest)
    deadline = time.monotonic() + timeout
    guard = _Deadline(deadline)
    try:
        return _fetch(url, dest, max_bytes=max_bytes, deadline=deadline, guard=guard, resolver=resolver, allowed=allowed,
                      context=ssl_context, max_redirects=max_redirects)
    finally:
        guard.cancel()


def _fetch(url: str, dest: Path, *, max_bytes: int, deadline: float, guard: _Deadline, resolver: Resolver,
           allowed: frozenset[str], context: ssl.SSLContext | None, max_redirects: int) -> Path:
    current = url
    for _hop in range(max_redirects + 1):
        host, ip, port, target = _vet(current, resolver, allowed, deadline)
        context = context or ssl.create_default_context()  # only once something passed the policy
        conn = _PinnedHTTPSConnection(host, ip, port, timeout=_remaining(deadline, current), context=context, guard=guard)
        sock: socket.socket | None = None
        resp: http.client.HTTPResponse | None = None
        try:
            try:
                conn.connect()
                conn.putrequest("GET", target, skip_accept_encoding=True)
                conn.putheader("Accept-Encoding", "identity")
                conn.putheader("User-Agent", USER_AGENT)
                conn.putheader("Accept", "*/*")
                conn.endheaders()
                sock = conn.sock  # kept: getresponse() may detach it from conn on "Connection: close"
                resp = conn.getresponse()
            except (socket.timeout, TimeoutError) as e:
                raise _timed_out(current) from e
            except (OSError, http.client.HTTPException) as e:
                if guard.expired:
                    raise _timed_out(current) from e
                if isinstance(e, ssl.SSLCertVerificationError):
                    raise _failed(f"TLS verification failed for {host}: {e.verify_message}", retryable=False) from e
                raise _failed(f"fetching {current} failed: {e}") from e
            if guard.expired:
                raise _timed_out(current)

            if resp.status in REDIRECT_STATUSES:
                location = resp.getheader("Location")
                if not location:
                    raise _failed(f"redirect {resp.status} without Location from {current}", retryable=False)
                try:  # http.client decodes header bytes as latin-1; servers that send raw UTF-8 mean UTF-8
                    location = location.encode("latin-1").decode("utf-8")
                except UnicodeError:
                    pass
                try:
                    current = urljoin(current, location.strip())
                except ValueError as e:
                    raise refused(f"malformed redirect Location from {current}: {e}") from e
                continue
            if resp.status >= 400:
                raise _failed(f"{current} answered HTTP {resp.status}", retryable=resp.status >= 500 or resp.status == 429)
            if resp.status != 200:
                raise _failed(f"{current} answered HTTP {resp.status}, expected 200", retryable=False)
            length = resp.getheader("Content-Length")
            if length is not None and length.strip().isdigit() and int(length) > max_bytes:
                raise _too_large(max_bytes)
            return _stream_to(resp, sock, dest, max_bytes=max_bytes, deadline=deadline, url=current, guard=guard)
        finally:  # the response holds the socket's file once getresponse() handed it over: both closed here on
            if resp is not None:  # every path, not when a traceback holding them is collected
                resp.close()
            conn.close()
            if sock is not None:
                sock.close()
    raise refused(f"more than {max_redirects} redirects")


def _stream_to(resp: http.client.HTTPResponse, sock: socket.socket | None, dest: Path, *, max_bytes: int, deadline: float,
               url: str, guard: _Deadline) -> Path:
    """The body into `dest` (via a temp file).

    http.client reads a connection closed before Content-Length bytes as an empty block,
    like the end of the body; what tells a cut download from a whole one is `resp.length`,
    the bytes it still expected (None for a chunked body, where a cut raises IncompleteRead).
    """
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.part"
    total = 0
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as out:
            while True:
                if sock is not None:
                    sock.settimeout(_remaining(deadline, url))
                try:
                    block = resp.read1(_CHUNK)
                except (socket.timeout, TimeoutError) as e:
                    raise _timed_out(url) from e
                except (OSError, http.client.HTTPException) as e:
                    raise (_timed_out(url) if guard.expired else _failed(f"reading {url} failed: {e}")) from e
                if not block:
                    if guard.expired:  # the deadline's shutdown reads as the end of the body: it is not
                        raise _timed_out(url)
                    break
                total += len(block)
                if total > max_bytes:
                    raise _too_large(max_bytes)
                out.write(block)
                _remaining(deadline, url)
        if resp.length:
            raise _failed(f"{url}: the connection closed after {total} of {total + resp.length} bytes")
        os.replace(tmp, dest)
        return dest
    except OSError as e:  # our side: the network's OSErrors became fetch_* codes where they were read
        raise _save_failed(url, e) from e
    finally:
        with suppress(OSError):  # e.g. dest's parent is not a directory: nothing was written
            tmp.unlink(missing_ok=True)
