"""Fault injection for the worker's transport tests (only with COMPUTE_FAULT_INJECTION=1).

`POST /v1/_faults {mode, n?}` changes how submissions (`POST /v1/jobs`, `POST /v1/{kind}`)
answer: `fail` -> 503 upstream_unavailable, `stall` -> hold the request until the client
gives up (at most `stall_s`), `capacity` -> 429 capacity with Retry-After, `refuse` ->
drop the connection without an answer. With `n` the fault hits the next n submissions
and then clears itself; `refuse_next_n` is `refuse` with n (default 1).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultMode = Literal["none", "fail", "stall", "capacity", "refuse", "refuse_next_n"]


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: FaultMode
    n: int | None = Field(default=None, ge=1, le=10_000, description="Hit only the next n submissions, then clear.")
    retry_after: int = Field(default=1, ge=1, le=3600, description="capacity: the Retry-After seconds.")
    stall_s: float = Field(default=60.0, gt=0, le=600, description="stall: longest hold before answering 503.")


class FaultStatus(FaultSpec):
    remaining: int | None = None
    hits: int = 0


@dataclass
class _Hit:
    mode: str
    retry_after: int
    stall_s: float


class FaultState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spec = FaultSpec(mode="none")
        self._remaining: int | None = None
        self._hits = 0

    def set(self, spec: FaultSpec) -> FaultStatus:
        with self._lock:
            if spec.mode == "refuse_next_n":
                spec = spec.model_copy(update={"mode": "refuse", "n": spec.n or 1})
            self._spec = spec
            self._remaining = spec.n
            self._hits = 0
            return self._status()

    def status(self) -> FaultStatus:
        with self._lock:
            return self._status()

    def _status(self) -> FaultStatus:
        return FaultStatus(**self._spec.model_dump(), remaining=self._remaining, hits=self._hits)

    def take(self) -> _Hit | None:
        """The fault for this submission, if any (counts it against `n`)."""
        with self._lock:
            spec = self._spec
            if spec.mode == "none":
                return None
            self._hits += 1
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining <= 0:
                    self._spec = FaultSpec(mode="none")
                    self._remaining = None
            return _Hit(spec.mode, spec.retry_after, spec.stall_s)


def is_submission(method: str, path: str) -> bool:
    from ..contract.jobs import KINDS

    if method != "POST" or not path.startswith("/v1/"):
        return False
    rest = path[len("/v1/"):].rstrip("/")
    return rest == "jobs" or rest in KINDS


class FaultMiddleware:
    """Pure ASGI: applies the current fault to submissions before the app sees them."""

    def __init__(self, app, state: FaultState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not is_submission(scope["method"], scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        hit = self.state.take()
        if hit is None:
            await self.app(scope, receive, send)
            return
        from .errors import error_response

        if hit.mode == "refuse":
            transport = getattr(getattr(receive, "__self__", None), "transport", None)
            if transport is not None:  # uvicorn: drop the connection, no answer at all
                transport.abort()
                return
            response = error_response(503, "refused", "fault injection: connection refused", retryable=True)
        elif hit.mode == "fail":
            response = error_response(503, "upstream_unavailable", "fault injection: failing submissions", retryable=True)
        elif hit.mode == "capacity":
            response = error_response(429, "capacity", "fault injection: no capacity", retryable=True,
                                      headers={"Retry-After": str(hit.retry_after)})
        else:  # stall: hold until the client disconnects, at most stall_s
            import anyio

            with anyio.move_on_after(hit.stall_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
            response = error_response(503, "upstream_unavailable", f"fault injection: stalled {hit.stall_s}s", retryable=True)
        await response(scope, receive, send)
