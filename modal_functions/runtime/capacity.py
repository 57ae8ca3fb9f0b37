"""Bounded admission: a kind accepts while busy + queued < workers + queue, else 429.

`CapacityFull` is a `CapabilityError` (code `capacity`, HTTP 429) that also carries
`retry_after` (whole seconds) for the Retry-After header, so a caller can spill the
job to another backend instead of waiting.
"""

from __future__ import annotations

import math

from ..errors import CAPACITY, CapabilityError


class CapacityFull(CapabilityError):
    def __init__(self, kind: str, retry_after: int, message: str | None = None):
        super().__init__(CAPACITY, message or f"{kind}: every worker is busy and the queue is full", retryable=True, http_status=429)
        self.kind = kind
        self.retry_after = retry_after

    def __reduce__(self):
        return (CapacityFull, (self.kind, self.retry_after, self.message))


def retry_after_seconds(avg_job_seconds: float | None, queued: int, workers: int, *, floor: int = 1, ceiling: int = 60) -> int:
    """A guess at when a slot frees up: the queue ahead drained at the observed job rate."""
    if not avg_job_seconds or workers <= 0:
        return floor
    estimate = avg_job_seconds * (queued + 1) / workers
    return max(floor, min(ceiling, math.ceil(estimate)))
