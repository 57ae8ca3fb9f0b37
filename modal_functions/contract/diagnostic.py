"""Diagnostic kind: a job that does what it is told, for lifecycle and pool tests."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .jobs import Strict


class DiagnosticRequest(Strict):
    action: Literal["succeed", "fail", "fail_transient", "stall", "sleep", "crash", "fan_out"] = "succeed"
    seconds: float = Field(default=0.0, ge=0, le=3600, description="Sleep/stall length.")
    steps: int = Field(default=1, ge=1, le=10_000, description="Progress steps reported while sleeping.")
    transient_failures: int = Field(default=1, ge=0, le=10, description="fail_transient: attempts that fail first.")
    payload: str = Field(default="", max_length=10_000)
    pieces: int = Field(default=1, ge=1, le=16, description="fan_out: pieces of `seconds` each, spread over the pool's idle workers.")
    fail_elsewhere: bool = Field(default=False, description="fan_out: a piece fails when a worker other than the job's runs it.")


class DiagnosticResult(Strict):
    echo: str
    pid: int
    loads: int = Field(description="How many times this worker loaded its heavy state.")
    attempt: int
    piece_pids: list[int] = Field(default_factory=list, description="fan_out: the worker pid that ran each piece.")
