"""Error codes and the one exception type capabilities raise.

Every failure that reaches a caller carries a machine-readable `code`. HTTP maps
`CapabilityError.http_status` straight to the response; jobs store `JobError`.
"""

from __future__ import annotations

import re
import tempfile

from .contract.jobs import JobError

# Request problems (4xx)
BAD_REQUEST = "bad_request"
VALIDATION_ERROR = "validation_error"
MALFORMED_JSON = "malformed_json"
UNKNOWN_KIND = "unknown_kind"
PAYLOAD_TOO_LARGE = "payload_too_large"
HEADERS_TOO_LARGE = "headers_too_large"
UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found"
IDEMPOTENCY_CONFLICT = "idempotency_conflict"
CAPACITY = "capacity"

# Job lifecycle
STALLED = "stalled"
TIMEOUT = "timeout"
CANCELLED = "cancelled"
WORKER_CRASHED = "worker_crashed"
INTERRUPTED = "interrupted"
TRANSIENT = "transient"
INTERNAL = "internal"
OUTPUT_EXPIRED = "output_expired"

# Storage and fetching
STORAGE_UNAVAILABLE = "storage_unavailable"
ARTIFACT_NOT_FOUND = "artifact_not_found"
INVALID_KEY = "invalid_key"
BAD_SIGNATURE = "bad_signature"
SIGNATURE_EXPIRED = "signature_expired"
FETCH_REFUSED = "fetch_refused"
FETCH_TOO_LARGE = "fetch_too_large"
FETCH_TIMEOUT = "fetch_timeout"
FETCH_FAILED = "fetch_failed"


class CapabilityError(Exception):
    """A failure with a code. `retryable` tells the layer above whether a new attempt may help."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, http_status: int = 422):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.http_status = http_status

    def to_error(self) -> JobError:
        return JobError(code=self.code, message=self.message, retryable=self.retryable)

    def __reduce__(self):  # survives pickling across process boundaries
        return (_rebuild, (self.code, self.message, self.retryable, self.http_status))


def _rebuild(code: str, message: str, retryable: bool, http_status: int) -> CapabilityError:
    return CapabilityError(code, message, retryable=retryable, http_status=http_status)


def describe_crash(e: BaseException, limit: int = 2000) -> str:
    """An unexpected exception as a caller sees it (`internal` errors): its type and message,
    without file paths of ours. An OSError keeps only its strerror; temp paths in any other
    message become `<temp>` (scratch and spool files mean nothing to the caller; the log has
    the full exception)."""
    if isinstance(e, OSError) and e.strerror:
        return f"{type(e).__name__}: {e.strerror}"[:limit]
    text = re.sub(re.escape(tempfile.gettempdir().rstrip("/")) + r"/[^\s'\",:)]*", "<temp>", str(e))
    return f"{type(e).__name__}: {text}"[:limit]
