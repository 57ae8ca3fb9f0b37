"""`HttpBackend`: the `JobBackend` protocol spoken over the compute plane's HTTP API.

It lets the lifecycle tests run unchanged over HTTP, and gives Python callers (bench,
scripts) the same interface in-process or remote. Every error answer comes back as
the `CapabilityError` the server raised: same code, retryable flag and status, and
`retry_after` from a 429's Retry-After header. Transport failures are
`upstream_unavailable` (retryable). This client never retries: retrying is the
caller's layer (docs: retry layering).
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import httpx

from ..contract.jobs import Health, Job, KindCapacity, Progress, WarmLease
from ..errors import NOT_FOUND, CapabilityError

UPSTREAM_UNAVAILABLE = "upstream_unavailable"
_LONG_POLL_S = 30.0
# A server answers a long poll at once when its sync wait is shorter than asked (0 with
# COMPUTE_SYNC_WAIT_S=0): then polls are spaced by this backoff instead of a busy loop.
_MIN_POLL_INTERVAL_S = 0.1
_MAX_POLL_INTERVAL_S = 2.0


def _error(response: httpx.Response) -> CapabilityError:
    try:
        body = response.json()["error"]
        code, message, retryable = body["code"], body["message"], bool(body.get("retryable", False))
    except (ValueError, KeyError, TypeError):
        code, message, retryable = "bad_response", f"HTTP {response.status_code}: {response.text[:200]}", response.status_code >= 500
    err = CapabilityError(code, message, retryable=retryable, http_status=response.status_code)
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None:
        try:
            err.retry_after = float(retry_after)
        except ValueError:
            pass
    return err


class HttpBackend:
    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0, client: httpx.Client | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._name: str | None = None

    # -- plumbing
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise CapabilityError(UPSTREAM_UNAVAILABLE, f"{method} {path}: {type(e).__name__}: {e}", retryable=True, http_status=503) from e
        if response.status_code >= 400:
            raise _error(response)
        return response

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self.health().backend
        return self._name

    def health(self) -> Health:
        return Health.model_validate(self._request("GET", "/health").json())

    # -- JobBackend
    def submit(self, kind: str, input: dict[str, Any], idempotency_key: str | None = None) -> Job:
        body: dict[str, Any] = {"kind": kind, "input": input}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return Job.model_validate(self._request("POST", "/v1/jobs", json=body).json())

    def poll(self, job_id: str) -> Job:
        return Job.model_validate(self._request("GET", f"/v1/jobs/{job_id}").json())

    def cancel(self, job_id: str) -> Job:
        return Job.model_validate(self._request("DELETE", f"/v1/jobs/{job_id}").json())

    def find_by_idempotency_key(self, key: str, kind: str | None = None) -> Job | None:
        """`GET /v1/jobs?idempotency_key=`: the job, or None on `404 not_found`.

        `404 submission_in_progress` (retryable) is raised like any other error answer.
        """
        params = {"idempotency_key": key, **({"kind": kind} if kind is not None else {})}
        try:
            return Job.model_validate(self._request("GET", "/v1/jobs", params=params).json())
        except CapabilityError as e:
            if e.code == NOT_FOUND and e.http_status == 404:
                return None
            raise

    def progress(self, job_id: str) -> Progress:
        return self.poll(job_id).progress

    def wait(self, job_id: str, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        interval = _MIN_POLL_INTERVAL_S
        while True:
            asked = time.monotonic()
            left = deadline - asked
            if left <= 0:
                return self.poll(job_id)
            chunk = min(left, _LONG_POLL_S)
            job = Job.model_validate(self._request("GET", f"/v1/jobs/{job_id}", params={"wait": round(chunk, 3)},
                                                   timeout=chunk + 10).json())
            if job.status.terminal:
                return job
            now = time.monotonic()
            pause = min(interval - (now - asked), deadline - now)
            if pause > 0:  # the server did not wait (as long as one interval): back off before asking again
                time.sleep(pause)
                interval = min(interval * 2, _MAX_POLL_INTERVAL_S)

    def events(self, job_id: str, timeout: float) -> Iterator[Job]:
        deadline = time.monotonic() + timeout
        path = f"/v1/jobs/{job_id}/events"
        try:
            with self._client.stream("GET", path, timeout=httpx.Timeout(10.0, read=max(0.05, timeout))) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                event = None
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "job":
                        job = Job.model_validate(json.loads(line[5:]))
                        yield job
                        if job.status.terminal:
                            return
                    elif line == "":
                        event = None
                    if time.monotonic() >= deadline:
                        return
        except httpx.ReadTimeout:
            return
        except httpx.TransportError as e:
            raise CapabilityError(UPSTREAM_UNAVAILABLE, f"GET {path}: {type(e).__name__}: {e}", retryable=True, http_status=503) from e

    def capacity(self) -> dict[str, KindCapacity]:
        return self.health().capacity

    def warm(self, kinds: list[str], ttl_s: int, min_containers: int | None = None) -> WarmLease:
        body: dict[str, Any] = {"kinds": kinds, "ttl_s": ttl_s}
        if min_containers is not None:
            body["min_containers"] = min_containers
        return WarmLease.model_validate(self._request("POST", "/v1/warm", json=body).json())

    def close(self) -> None:
        self._client.close()
