"""Shared helpers for tests/runtime (imported by name, like tests/api/api_support.py)."""

from __future__ import annotations

import time
from typing import Callable

DEADLINE = 30.0


def eventually(check: Callable[[], object], timeout: float = DEADLINE, interval: float = 0.02):
    """Poll a condition until it is truthy or the deadline passes (a wait, never a sleep-as-sync)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
