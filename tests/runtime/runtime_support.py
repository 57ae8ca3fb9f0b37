"""Shared helpers for tests/runtime (imported by name, like tests/api/api_support.py)."""

from __future__ import annotations

from modal_functions.runtime.testing import eventually

DEADLINE = 30.0


def gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


__all__ = ["DEADLINE", "eventually", "gone"]
