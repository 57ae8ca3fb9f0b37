"""# The diagnostic kind: a job that does exactly what it is told.

It exists to test the job lifecycle and the warm pools through the same path as the
real capabilities (`POST /v1/jobs {"kind": "diagnostic", ...}`), without a model:

| action           | what the job does                                                        |
|------------------|---------------------------------------------------------------------------|
| `succeed`        | echoes `payload`                                                          |
| `fail`           | raises a non-retryable `diagnostic_failure`                               |
| `fail_transient` | fails retryably (`transient`) while `ctx.attempt <= transient_failures`, then succeeds |
| `stall`          | reports progress once, then goes silent for `seconds` (0 = an hour)       |
| `sleep`          | sleeps `seconds` in `steps` steps, heartbeating and reporting progress    |
| `crash`          | kills its own worker process (`os._exit`)                                 |
| `fan_out`        | `pieces` pieces of `seconds` each through `parts.fan_out`: the pool's idle workers run some; `fail_elsewhere` makes a piece fail off the job's own worker |

Its heavy state is fake but observable: `load()` counts how many times this process
loaded it, and every result carries that count and the worker's pid, so a test can
see that a warm worker loaded once and served many jobs. `DIAGNOSTIC_LOAD_SECONDS`
makes the load slow (to test that a server is healthy while its pools warm up);
`DIAGNOSTIC_LOAD_FAIL=1` makes it fail.
Every job writes `payload` to a file in its workdir first, so temp-dir cleanup is
checked against a non-empty directory.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..capability import Capability, TaskContext
from ..contract.diagnostic import DiagnosticRequest, DiagnosticResult
from ..errors import TRANSIENT, CapabilityError
from ..runtime.parts import fan_out

DIAGNOSTIC_FAILURE = "diagnostic_failure"
STALL_FOREVER_S = 3600.0
HEARTBEAT_EVERY_S = 0.1

_loads = 0


def load() -> dict[str, Any]:
    global _loads
    delay = float(os.environ.get("DIAGNOSTIC_LOAD_SECONDS", "0") or 0)
    if delay:
        time.sleep(delay)
    if os.environ.get("DIAGNOSTIC_LOAD_FAIL"):
        raise CapabilityError("load_failed", "told to fail loading the heavy state", retryable=False, http_status=503)
    _loads += 1
    return {"loads": _loads, "pid": os.getpid()}


def _sleep_heartbeating(seconds: float, ctx: TaskContext) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(HEARTBEAT_EVERY_S, left))
        ctx.heartbeat()


def run(state: dict[str, Any], request: DiagnosticRequest, ctx: TaskContext) -> DiagnosticResult:
    (ctx.workdir / "payload.txt").write_text(request.payload)
    action = request.action
    if action == "fail":
        raise CapabilityError(DIAGNOSTIC_FAILURE, "told to fail", retryable=False)
    if action == "fail_transient" and ctx.attempt <= request.transient_failures:
        raise CapabilityError(TRANSIENT, f"told to fail attempts 1..{request.transient_failures}", retryable=True, http_status=503)
    if action == "crash":
        os._exit(13)
    if action == "stall":
        ctx.progress(0, 1, "steps", "stalling")
        time.sleep(request.seconds or STALL_FOREVER_S)  # no heartbeat: the watchdog must act
    if action == "fan_out":
        pids = _fan_out(request, ctx)
        return DiagnosticResult(echo=request.payload, pid=os.getpid(), loads=state["loads"], attempt=ctx.attempt, piece_pids=pids)
    if action == "sleep":
        step = request.seconds / request.steps
        for i in range(request.steps):
            _sleep_heartbeating(step, ctx)
            ctx.progress(i + 1, request.steps, "steps", f"step {i + 1}/{request.steps}")
    else:
        ctx.progress(1, 1, "steps", "done")
    return DiagnosticResult(echo=request.payload, pid=os.getpid(), loads=state["loads"], attempt=ctx.attempt)


def _fan_out(request: DiagnosticRequest, ctx: TaskContext) -> list[int]:
    specs = [{"index": i, "seconds": request.seconds, "owner": os.getpid(), "fail_elsewhere": request.fail_elsewhere}
             for i in range(request.pieces)]

    def here(_index: int, spec: dict[str, Any], report) -> dict[str, Any]:
        return run_piece(spec, ctx, report)

    results = fan_out(ctx.parts, specs, here, on_progress=lambda done: ctx.progress(done, request.pieces, "pieces"), heartbeat=ctx.heartbeat)
    return [r["pid"] for r in results]


def run_piece(spec: dict[str, Any], ctx: TaskContext, report=None) -> dict[str, Any]:
    if spec["fail_elsewhere"] and os.getpid() != spec["owner"]:
        raise CapabilityError(DIAGNOSTIC_FAILURE, f"piece {spec['index']} told to fail off its job's worker", retryable=False)
    _sleep_heartbeating(spec["seconds"], ctx)
    if report is not None:
        report(1)
    return {"index": spec["index"], "pid": os.getpid()}


def run_part(state: dict[str, Any], spec: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    result = run_piece(spec, ctx)
    ctx.progress(1, 1, "pieces")  # the part's own progress; on the job's worker it would overwrite the job's
    return result


CAPABILITY = Capability(
    kind="diagnostic",
    request_model=DiagnosticRequest,
    result_model=DiagnosticResult,
    load=load,
    run=run,
    run_part=run_part,
)
