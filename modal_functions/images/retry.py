"""The single retry layer for upstream image errors (tenacity).

Only `UpstreamError`s marked retryable (429, 5xx, timeouts, connection errors) are
retried. The wait is exponential backoff, raised to the provider's own hint (Retry-After
or RetryInfo.retryDelay) when that is longer, plus seeded jitter. A hint longer than
`max_hint_s` is not waited out: we give up at once and report it, rather than sit on a
worker slot past the job's deadline.

Time is injected: pass `sleep=waits.append` and a seeded `random.Random` and a test
can assert the exact waits without sleeping.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from .errors import UpstreamError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    initial_s: float = 1.0  # first backoff; doubles each attempt
    max_backoff_s: float = 30.0
    jitter_s: float = 1.0  # uniform [0, jitter_s) added to each backoff
    max_hint_s: float = 60.0  # longest provider hint we are willing to wait out


@dataclass
class CallStats:
    """What one logical call cost: upstream attempts made and waits taken (seconds)."""

    attempts: int = 0
    waits: list[float] = field(default_factory=list)


class wait_seeded_jitter(wait_base):
    """Uniform [0, max) from an injected, lockable RNG (tenacity's own jitter uses the global one)."""

    def __init__(self, rng: random.Random, maximum: float):
        self.rng = rng
        self.maximum = maximum
        self._lock = threading.Lock()

    def __call__(self, retry_state: RetryCallState) -> float:
        if self.maximum <= 0:
            return 0.0
        with self._lock:
            return self.rng.uniform(0, self.maximum)


class wait_retry_after(wait_base):
    """max(backoff, the provider's hint) plus jitter.

    The jitter is added after the hint, not inside max(): every prompt of a batch that
    was rate-limited gets the same hint, and without jitter on top they would all retry
    at the same instant and be rate-limited together again.
    """

    def __init__(self, backoff: wait_base, jitter: wait_base):
        self.backoff = backoff
        self.jitter = jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = self.backoff(retry_state)
        hint = _hint(retry_state)
        return (max(wait, hint) if hint is not None else wait) + self.jitter(retry_state)


class stop_if_hint_exceeds(stop_base):
    def __init__(self, max_hint_s: float):
        self.max_hint_s = max_hint_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        hint = _hint(retry_state)
        return hint is not None and hint > self.max_hint_s


class stop_before_deadline(stop_base):
    """Stop when the upcoming wait would end past `deadline` (on the injected `clock`)."""

    def __init__(self, deadline: float | None, clock: Callable[[], float]):
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.deadline is None:
            return False
        return self.clock() + (retry_state.upcoming_sleep or 0.0) >= self.deadline


def _hint(retry_state: RetryCallState) -> float | None:
    outcome = retry_state.outcome
    if outcome is None or not outcome.failed:
        return None
    return getattr(outcome.exception(), "retry_after", None)


def _retryable(e: BaseException) -> bool:
    return isinstance(e, UpstreamError) and e.retryable


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stats: CallStats | None = None,
    jitter: wait_seeded_jitter | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run `fn` with the policy. Raises the last `UpstreamError` when attempts (or time) run out.

    `deadline` (a `clock()` value) bounds the retries: no wait is started that would end past it.
    """
    stats = stats if stats is not None else CallStats()
    jitter = jitter or wait_seeded_jitter(rng or random.Random(), policy.jitter_s)

    def attempt() -> T:
        stats.attempts += 1
        return fn()

    def before_sleep(rs: RetryCallState) -> None:
        wait = rs.next_action.sleep if rs.next_action else 0.0
        stats.waits.append(wait)
        exc = rs.outcome.exception() if rs.outcome else None
        log.info(
            "image call retrying",
            extra={"attempt": rs.attempt_number, "wait_s": round(wait, 3), "code": getattr(exc, "code", None)},
        )

    retrying = Retrying(
        sleep=sleep,
        stop=stop_after_attempt(policy.max_attempts)
        | stop_if_hint_exceeds(policy.max_hint_s)
        | stop_before_deadline(deadline, clock),
        wait=wait_retry_after(wait_exponential(multiplier=policy.initial_s, max=policy.max_backoff_s), jitter),
        retry=retry_if_exception(_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except UpstreamError as e:
        if e.retry_after is not None and e.retry_after > policy.max_hint_s:
            e.message = f"{e.message} (provider asked to wait {e.retry_after:.0f} s, over our {policy.max_hint_s:.0f} s limit)"
        raise
