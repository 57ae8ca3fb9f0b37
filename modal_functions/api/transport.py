"""The HTTP/1.1 transport `canvascast serve` runs: uvicorn's h11 protocol with a bounded header size.

uvicorn's default parser (httptools) buffers request headers of any size (an 8 MB header was
taken whole), before any auth. h11 refuses a request line plus headers that grow past
`MAX_HEADER_BYTES` without completing, and a complete one that arrived in a single read (h11 bounds
only what it is still waiting for; uvicorn reads 64 KiB at a time) is measured here. Uploads and downloads run at the same speed on both
(measured: 37-54 MB/s up, 122-150 MB/s down through httpx on loopback, against 44-50 and
124-129 for httptools). What the parser refuses is answered in the API's error shape, as
everything else is: 431 `headers_too_large` or 400 `bad_request`, then the connection closes.
"""

from __future__ import annotations

import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .. import errors as codes

MAX_HEADER_BYTES = 16 * 1024  # as Node's HTTP server, which the worker runs on


def _head_bytes(request: h11.Request) -> int:
    """The request line and headers as sent: "METHOD target HTTP/1.1\r\n", then "name: value\r\n" each."""
    return len(request.method) + len(request.target) + 11 + sum(len(n) + len(v) + 4 for n, v in request.headers)


class JsonErrorH11Protocol(H11Protocol):
    """H11Protocol whose parser refusals are `{"error": {code, message, retryable}}`, with h11's status."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusal_status = 400
        next_event = self.conn.next_event

        def next_event_noting_status() -> Any:
            try:
                event = next_event()
                if isinstance(event, h11.Request) and _head_bytes(event) > MAX_HEADER_BYTES:
                    raise h11.RemoteProtocolError("request line and headers too large", error_status_hint=431)
                return event
            except h11.RemoteProtocolError as e:
                self._refusal_status = 431 if e.error_status_hint == 431 else 400
                raise

        self.conn.next_event = next_event_noting_status  # type: ignore[method-assign]

    def send_400_response(self, msg: str) -> None:
        status = self._refusal_status
        code, message = ((codes.HEADERS_TOO_LARGE, f"the request line and headers exceed {MAX_HEADER_BYTES} bytes")
                         if status == 431 else (codes.BAD_REQUEST, "the request is not valid HTTP/1.1"))
        body = json.dumps({"error": {"code": code, "message": message, "retryable": False}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        reason = b"Request Header Fields Too Large" if status == 431 else b"Bad Request"
        for event in (h11.Response(status_code=status, headers=headers, reason=reason), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
