"""Image generation's own error codes, and the exception that carries a retry hint.

Retryable (429, 5xx, timeouts, connection errors) are retried here, by this capability,
and by no other layer; the rest fail at once with a code a caller can act on.
"""

from __future__ import annotations

from ..errors import STORAGE_UNAVAILABLE, CapabilityError

# Not retried: the same request would fail the same way.
UPSTREAM_BAD_REQUEST = "upstream_bad_request"  # 400 / other 4xx from the provider
UPSTREAM_AUTH = "upstream_auth"  # 401 / 403: the key is wrong or lacks access
SAFETY_BLOCK = "safety_block"  # promptFeedback.blockReason or a SAFETY-like finishReason
NO_IMAGE = "no_image"  # a reply with text (or nothing) but no image
UPSTREAM_MALFORMED = "upstream_malformed"  # unparseable reply, or image bytes that are not an image
PROVIDER_NOT_CONFIGURED = "provider_not_configured"  # no key and no Vertex, with IMAGE_FALLBACK=fail

# Retried with backoff; these codes surface only once the attempts are spent.
UPSTREAM_RATE_LIMITED = "upstream_rate_limited"  # 429
UPSTREAM_UNAVAILABLE = "upstream_unavailable"  # 5xx or a connection error
UPSTREAM_TIMEOUT = "upstream_timeout"  # the per-call timeout fired (or 408)

RETRYABLE = frozenset({UPSTREAM_RATE_LIMITED, UPSTREAM_UNAVAILABLE, UPSTREAM_TIMEOUT})

_HTTP_STATUS = {
    SAFETY_BLOCK: 422,
    NO_IMAGE: 422,
    PROVIDER_NOT_CONFIGURED: 503,
    UPSTREAM_RATE_LIMITED: 503,
    UPSTREAM_UNAVAILABLE: 503,
    UPSTREAM_TIMEOUT: 504,
    STORAGE_UNAVAILABLE: 503,  # the images were made but could not be stored (storage/README.md)
}


def http_status_for(code: str) -> int:
    return _HTTP_STATUS.get(code, 502)


class UpstreamError(CapabilityError):
    """One failed call to the image provider.

    `retry_after` is the provider's own hint (Retry-After header or RetryInfo.retryDelay),
    in seconds; `status` the HTTP status when there was one.
    """

    def __init__(self, code: str, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(code, message, retryable=code in RETRYABLE, http_status=http_status_for(code))
        self.status = status
        self.retry_after = retry_after
