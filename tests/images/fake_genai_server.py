"""A FAKE of the Gemini API's `generateContent` endpoint, for tests and the bench only.

It speaks just enough of the wire format for the real google-genai SDK to talk to
it through `HttpOptions(base_url=...)`: `POST /<version>/models/<model>:generateContent`
(or Vertex's `.../publishers/google/models/<model>:generateContent`) with a JSON body,
answered with a scripted reply. Every request is recorded (path, headers, JSON body)
so tests can assert what the SDK actually sent.

Replies are queued with `push(...)`; when the queue is empty the default reply is an
image at the requested aspect ratio. `latency` delays every reply (bench), waiting on
an event so `stop()` never hangs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from PIL import Image

RATIOS = {"16:9": (64, 36), "9:16": (36, 64), "1:1": (48, 48), "4:3": (64, 48), "3:4": (48, 64)}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; bytes -> raw; callable(request_json) -> dict
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0  # send the body in 40 pieces this many seconds apart (never idle long)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict


def png_bytes(aspect: str = "16:9", seed: str = "") -> bytes:
    w, h = RATIOS.get(aspect, (48, 48))
    colour = tuple(hashlib.sha256(seed.encode()).digest()[:3])
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return buf.getvalue()


def _prompt_of(req: dict) -> str:
    try:
        return " ".join(p.get("text", "") for p in req["contents"][0]["parts"])
    except (KeyError, IndexError, TypeError):
        return ""


def _aspect_of(req: dict) -> str:
    return (req.get("generationConfig") or {}).get("imageConfig", {}).get("aspectRatio", "1:1")


def image_body(req: dict) -> dict:
    """A successful reply: one PNG at the requested aspect ratio, coloured by the prompt."""
    data = base64.b64encode(png_bytes(_aspect_of(req), _prompt_of(req))).decode()
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1290, "totalTokenCount": 1302},
        "modelVersion": "fake-image-model",
    }


def image() -> Reply:
    return Reply(200, image_body)


def error(status: int, message: str = "error", *, retry_delay: str | None = None, retry_after: str | None = None) -> Reply:
    """A Google API error body; `retry_delay` adds a google.rpc.RetryInfo detail (e.g. "7s")."""
    names = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    details = []
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    body = {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN"), "details": details}}
    return Reply(status, body, {"Retry-After": retry_after} if retry_after is not None else {})


def prompt_blocked(reason: str = "SAFETY") -> Reply:
    return Reply(200, {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 12}})


def candidate_blocked(reason: str = "IMAGE_SAFETY") -> Reply:
    return Reply(200, {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": reason, "index": 0}]})


def text_only(text: str = "I can't draw that, but here is a description.") -> Reply:
    return Reply(
        200, {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}]}
    )


def malformed(raw: bytes = b'{"candidates": [{"content": ') -> Reply:
    return Reply(200, raw, {"Content-Type": "application/json"})


def huge_image(width: int = 20_000, height: int = 20_000) -> Reply:
    """A valid PNG header declaring a picture far too big to decode (a few hundred bytes on the wire)."""
    from modal_functions.runtime.testing import png_header

    data = base64.b64encode(png_header(width, height)).decode()
    return Reply(
        200,
        {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}, "finishReason": "STOP"}]},
    )


def broken_image() -> Reply:
    """Well-formed JSON whose inline image bytes are not an image."""
    data = base64.b64encode(b"definitely not a png").decode()
    return Reply(
        200,
        {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}, "finishReason": "STOP"}]},
    )


class FakeGenAI:
    """Start with `with FakeGenAI() as fake:`; point the SDK at `fake.url`."""

    def __init__(self, latency: float = 0.0, default: Callable[[], Reply] = image):
        self.latency = latency
        self.default = default
        self.requests: list[Recorded] = []
        self.rules: list[tuple[str, Reply]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._abort = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def push(self, *replies: Reply) -> "FakeGenAI":
        with self._lock:
            self._queue.extend(replies)
        return self

    def reset(self) -> None:
        """Forget requests, queued replies, rules and latency (one server serves many tests).

        Delayed replies still pending are abandoned, and we wait (bounded) for their
        handlers to finish so the in-flight count starts from zero.
        """
        self._abort.set()
        with self._idle:
            self._idle.wait_for(lambda: self.in_flight == 0, timeout=5)
        self._abort = threading.Event()
        with self._lock:
            self.requests.clear()
            self.rules.clear()
            self._queue.clear()
            self.latency = 0.0
            self.max_in_flight = 0

    def when(self, substring: str, reply: Reply) -> "FakeGenAI":
        """Every request whose prompt contains `substring` gets `reply` (order-independent)."""
        with self._lock:
            self.rules.append((substring, reply))
        return self

    def bodies(self) -> list[dict]:
        return [r.body for r in self.requests]

    def start(self) -> "FakeGenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._abort.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeGenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next(self, req: dict) -> Reply:
        prompt = _prompt_of(req)
        with self._lock:
            for substring, reply in self.rules:
                if substring in prompt:
                    return reply
            return self._queue.popleft() if self._queue else self.default()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except ConnectionResetError:  # a client closed (aborted) its idle keep-alive connection
                    pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    req = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    req = {"_raw": raw.decode("utf-8", "replace")}
                with fake._lock:
                    fake.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, req))
                if not self.path.endswith(":generateContent"):
                    return self._send(Reply(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}))
                reply = fake._next(req)
                abort = fake._abort
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    delay = fake.latency + reply.delay
                    if delay and abort.wait(delay):
                        return
                    body = reply.body(req) if callable(reply.body) else reply.body
                    self._send(reply, body, abort)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                        fake._idle.notify_all()

            def _send(self, reply: Reply, body: Any = None, abort: threading.Event | None = None) -> None:
                body = reply.body if body is None else body
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.headers.get("Content-Type", "application/json; charset=UTF-8"))
                    for k, v in reply.headers.items():
                        if k != "Content-Type":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if not reply.drip:
                        self.wfile.write(data)
                        return
                    step = max(1, len(data) // 40)
                    for i in range(0, len(data), step):
                        self.wfile.write(data[i:i + step])
                        self.wfile.flush()
                        if abort is not None and abort.wait(reply.drip):
                            return
                except (BrokenPipeError, ConnectionResetError):  # client timed out and left
                    pass

        return Handler
