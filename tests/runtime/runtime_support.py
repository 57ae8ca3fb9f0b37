"""Shared helpers for tests/runtime (imported by name, like tests/api/api_support.py)."""

from __future__ import annotations

from modal_functions.runtime.testing import eventually

DEADLINE = 30.0

__all__ = ["DEADLINE", "eventually"]
