"""A local HTTPS server for safe_fetch tests: self-signed cert for `public.example` and 127.0.0.1.

Nothing leaves the machine: tests resolve `public.example` to 127.0.0.1 with an
injected resolver and exempt it with safe_fetch's test-only `allow_hosts`.
"""

from __future__ import annotations

import datetime
import ipaddress
import queue
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "public.example"


def make_cert(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


class TLSServer:
    """Routes: /ok, /big (Content-Length), /big-chunked, /redirect?to=URL, /loop, /hang, /status/N,
    /drip-head and /drip-body (a byte every 20 ms, each read well inside any socket timeout: how each
    ended, "cut" by the client or "sent" whole, goes to `drips`)."""

    def __init__(self, big_size: int = 4096):
        self.big_size = big_size
        self.release = threading.Event()  # /hang waits on this
        self.requests: list[str] = []
        self.drips: queue.Queue[str] = queue.Queue()
        self._dir = tempfile.TemporaryDirectory()
        cert, key = make_cert(Path(self._dir.name))
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        self.client_context = ssl.create_default_context(cafile=str(cert))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _drip(self, data: bytes) -> None:
                for i in range(len(data)):
                    try:
                        self.wfile.write(data[i : i + 1])
                    except OSError:
                        outer.drips.put("cut")
                        break
                    if outer.release.wait(0.02):
                        break
                else:
                    outer.drips.put("sent")
                self.close_connection = True

            def do_GET(self):
                outer.requests.append(self.path)
                path, _, query = self.path.partition("?")
                if path == "/ok":
                    self._send(200, b"hello", {"Content-Type": "text/plain"})
                elif path == "/big":
                    self._send(200, b"x" * outer.big_size)
                elif path == "/big-chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"y" * 1024
                    try:
                        for _ in range(outer.big_size // 1024 + 2):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        pass
                elif path == "/redirect":
                    from urllib.parse import parse_qs

                    self._send(302, b"", {"Location": parse_qs(query)["to"][0]})
                elif path == "/loop":
                    self._send(302, b"", {"Location": "/loop"})
                elif path == "/hang":
                    outer.release.wait(10)
                    self.close_connection = True
                elif path == "/drip-head":  # ~9 s of status line and headers
                    self._drip(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400 + b"\r\nContent-Length: 2\r\n\r\nok")
                elif path == "/drip-body":  # no length: the body ends when the connection does
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                    self._drip(b"b" * 400)
                elif path == "/cut":  # promises 1000 bytes, sends 100, hangs up
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"c" * 100)
                    self.close_connection = True
                elif path.startswith("/status/"):
                    self._send(int(path.rsplit("/", 1)[1]), b"nope")
                else:
                    self._send(404)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = server_ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str, host: str = HOST) -> str:
        return f"https://{host}:{self.port}{path}"

    def __enter__(self) -> "TLSServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._dir.cleanup()
