"""Request body limits as a pure ASGI middleware.

A declared Content-Length above the limit is refused before any byte is read; a
chunked or lying body is counted as it streams and cut off at the limit. Either
way the answer is `413 payload_too_large`, whatever the route would have said.
Artifact uploads (`POST /v1/artifacts`, that route exactly) get their own, larger limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PAYLOAD_TOO_LARGE


class _TooLarge(Exception):
    pass


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"error": {"code": PAYLOAD_TOO_LARGE, "message": f"request body exceeds {limit} bytes", "retryable": False}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int, upload_path: str = "/v1/artifacts"):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_path = upload_path

    def limit_for(self, method: str, path: str) -> int:
        # The route exactly: a prefix would give `/v1/artifactsX` (or a GET with a body) the upload limit.
        return self.max_upload_bytes if method == "POST" and path == self.upload_path else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("method", ""), scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await _send_413(send, limit)
                    return

        received = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:  # the route turned our exception into its own answer: replace it
                if not started:
                    started = True
                    await _send_413(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            if not started:
                started = True
                await _send_413(send, limit)
        except Exception:
            if over and not started:
                await _send_413(send, limit)
                return
            raise
