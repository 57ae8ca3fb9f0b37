"""Reading the provider's wait hints: Retry-After (seconds or HTTP date) and RetryInfo.retryDelay."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest
from google.genai import errors as genai_errors

from modal_functions.images.gemini import classify_exception, retry_after_of


def api_error(status: int, *, header: str | None = None, delay=None) -> genai_errors.APIError:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}] if delay is not None else []
    body = {"error": {"code": status, "message": "m", "status": "RESOURCE_EXHAUSTED", "details": details}}
    headers = {"retry-after": header} if header is not None else {}
    cls = genai_errors.ClientError if status < 500 else genai_errors.ServerError
    return cls(status, body, httpx.Response(status, headers=headers))


@pytest.mark.parametrize(
    ("header", "delay", "expected"),
    [
        (None, None, None),
        ("12", None, 12.0),
        (None, "7s", 7.0),
        (None, "0.25s", 0.25),
        (None, {"seconds": 3, "nanos": 500_000_000}, 3.5),
        ("2", "9s", 9.0),  # both present: the longer one
        ("soon", None, None),  # unparseable: no hint
        (None, {"seconds": "abc"}, None),  # a RetryInfo we cannot read: no hint, not an internal error
    ],
)
def test_hints(header, delay, expected):
    assert retry_after_of(api_error(429, header=header, delay=delay)) == expected


def test_http_date_retry_after_is_relative_to_now():
    now = 1_800_000_000.0
    assert retry_after_of(api_error(503, header=formatdate(now + 30, usegmt=True)), now=now) == pytest.approx(30)
    assert retry_after_of(api_error(503, header=formatdate(now - 30, usegmt=True)), now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(429, "upstream_rate_limited", True), (408, "upstream_timeout", True), (500, "upstream_unavailable", True),
     (503, "upstream_unavailable", True), (400, "upstream_bad_request", False), (404, "upstream_bad_request", False),
     (401, "upstream_auth", False)],
)
def test_status_codes(status, code, retryable):
    e = classify_exception(api_error(status, header="4"))
    assert (e.code, e.retryable, e.status) == (code, retryable, status)
    assert e.retry_after == (4.0 if retryable else None)
