"""# One job inside a Modal container

Every Modal function of the app is a thin shell around `execute()`: it turns a
spawned job (`{"job_id", "kind", "input"}`) into a call of the plain capability code,
under the same watchdog and progress code as the in-house pool
(`runtime.watchdog.supervise`, `runtime.progress.MappingSink` on a `modal.Dict`).

What it writes to the jobs Dict, so the `ModalBackend` can answer polls:

- `run:<job_id>`: `{"attempt", "started_at", "cold_start"}` when an attempt starts;
- `progress:<job_id>`: progress and heartbeat time (`MappingSink`). A retry (attempt 2 on)
  counts up from zero again: its sink holds the progress earlier attempts wrote until the
  retry passes it (`MappingSink(hold=)`, the rule in-house holds a retried job by), so a
  poll never sees the job step back; the retry shows at once in `run:` (`attempts`);
- `spent:<job_id>`: `{"seconds", "billed"}` the job's attempts raised for a retry ran, so
  the next attempt's output counts them (best effort, like progress).

What it returns (the FunctionCall's output): `{"ok": true, "result": {...}, "seconds",
"resource", "billed", "attempt", "cold_start"}` or `{"ok": false, "error": JobError,
"seconds", "resource", "billed", "attempt"}` (a failed attempt ran and billed too), or for a
job that measured itself and belongs elsewhere `{"ok": false, "handoff": object, "seconds",
"resource"}` (the probe is no attempt, but its container billed: the backend keeps its seconds
for the job's cost, `backend._hand_off`).
`seconds` is the container time of this attempt and of the earlier ones raised for a retry;
`billed` is what they ran on other Modal objects, in seconds per object (a chunked
render's `render_chunk` calls, failed ones included, `bill()`); the backend prices each
from its own table into the job's `cost`.
A *retryable* failure with attempts left is raised instead, so Modal's own retry
policy (from `modal.toml` `retries`) runs the next attempt; a stall or timeout is final
for the job (as in-house). The watchdog's hard limit sits a little under the function's
Modal `timeout`, so an overrun is reported as `timeout` by our code, not cut off by Modal.

Heavy state (`Capability.load()`) is loaded once per container: `warm_state(kind)`
here for functions, `@modal.enter` for the Whisper classes.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, MutableMapping

from ..errors import INTERNAL, STALLED, TIMEOUT, CapabilityError, describe_crash
from ..logs import get_logger

log = get_logger(__name__)

# A stalled or timed-out attempt is final for its job (as in-house): a fresh attempt is a new job.
FINAL_CODES = frozenset({STALLED, TIMEOUT})
_STATES: dict[str, Any] = {}
# job_id -> the context of its attempt running in this container, for code that waits on
# other Modal calls on the job's behalf (render chunks via `.map`) and must keep it alive.
_RUNNING: dict[str, Any] = {}
# job_id -> {Modal object: seconds} its running attempt used elsewhere (render chunks), see `bill`.
_BILLS: dict[str, dict[str, float]] = {}
_BILLS_LOCK = threading.Lock()


def running_context(job_id: str) -> Any:
    """The `RuntimeContext` of `job_id`'s attempt running in this container, or None."""
    return _RUNNING.get(job_id)


def bill(job_id: str, object_name: str, seconds: float) -> bool:
    """Add `seconds` that `job_id`'s attempt running here used on `object_name` (from any thread).

    False once the attempt has ended (its output is written): what ends later, such as a
    chunk call cancelled as the attempt closed, is not in the job's cost."""
    with _BILLS_LOCK:
        bills = _BILLS.get(job_id)
        if bills is None:
            return False
        bills[object_name] = round(bills.get(object_name, 0.0) + seconds, 3)
        return True


def watchdog_timeout(timeout: float) -> float:
    """A little under Modal's own hard timeout, so the job fails with a coded `timeout` first."""
    return timeout - min(5.0, timeout * 0.05)


def warm_state(kind: str) -> tuple[Any, bool]:
    """The loaded heavy state for `kind` in this container and whether this call loaded it."""
    from ..capabilities import get_capability

    if kind in _STATES:
        return _STATES[kind], False
    _STATES[kind] = get_capability(kind).load()
    return _STATES[kind], True


def run_key(job_id: str) -> str:
    return f"run:{job_id}"


def progress_key(job_id: str) -> str:
    return f"progress:{job_id}"


def spent_key(job_id: str) -> str:
    return f"spent:{job_id}"


def _held_progress(jobs: MutableMapping[str, Any], job_id: str) -> Any:
    """The progress earlier attempts of the job reached (None for none), for a retry's sink to
    hold. Best effort: an unreadable entry only means the retry shows its own progress."""
    from ..runtime.progress import read_mapping

    try:
        mark = read_mapping(jobs, progress_key(job_id))[0]
    except Exception as e:  # noqa: BLE001 - any store error (or a damaged entry); the job's own work goes on
        log.warning("earlier progress not read; the retry shows its own", extra={"job_id": job_id, "error": describe_crash(e)})
        return None
    return mark if mark.done or mark.total else None


def _earlier_spent(jobs: MutableMapping[str, Any], job_id: str) -> tuple[float, dict[str, float]]:
    """Seconds and `billed` of the job's attempts raised for a retry (`spent:<id>`). Best effort:
    an unreadable or damaged entry leaves them out of the cost, never fails the attempt."""
    try:
        entry = jobs.get(spent_key(job_id)) or {}
        seconds = float(entry.get("seconds") or 0.0)
        billed = {str(k): float(v) for k, v in (entry.get("billed") or {}).items()}
    except Exception as e:  # noqa: BLE001 - any store error or a damaged entry
        log.warning("earlier attempts' seconds not read; left out of the cost", extra={"job_id": job_id, "error": describe_crash(e)})
        return 0.0, {}
    return seconds, billed


def add_billed(into: Any, more: Any) -> dict[str, Any]:
    """Two `billed` maps ({Modal object: seconds}) summed; what is not a map counts as none (an
    older runner's output, a damaged record), and a damaged entry is kept as it is, for
    `ModalBackend._cost` to leave out and say so."""
    out = dict(into) if isinstance(into, dict) else {}
    for name, seconds in (more.items() if isinstance(more, dict) else ()):
        try:
            out[name] = round(float(out.get(name, 0.0)) + float(seconds), 3)
        except (TypeError, ValueError):
            out.setdefault(name, seconds)
    return out


def _next_attempt(jobs: MutableMapping[str, Any], job_id: str) -> int:
    """One more than the last attempt recorded. Best effort, like `_record_attempt`: a failed
    read (Modal's Dict unreachable for a moment) raised out of the body as Modal's own error,
    which polls take for "Modal unreachable", for a job that never ran. Then it counts from 1:
    at worst a retryable failure is raised for a Modal retry that is no longer there, and the
    call's output is that coded failure all the same."""
    try:
        previous = jobs.get(run_key(job_id)) or {}
        return int(previous.get("attempt", 0)) + 1
    except Exception as e:  # noqa: BLE001 - any store error (or a damaged record); the job's own work goes on
        log.warning("attempt number not read; counted from 1", extra={"job_id": job_id, "error": describe_crash(e)})
        return 1


def _record_attempt(jobs: MutableMapping[str, Any], job_id: str, run: dict[str, Any]) -> None:
    """Best effort, like progress: a failed Dict write (Modal's Dict unreachable for a moment)
    must not end a job that has not run as failed `internal`. Polls then answer it queued (with
    its progress) until it ends, and a later attempt counts from the last attempt recorded."""
    try:
        jobs[run_key(job_id)] = run
    except Exception as e:  # noqa: BLE001 - any store error; the job's own work goes on
        log.warning("attempt start not recorded", extra={"job_id": job_id, "attempt": run["attempt"], "error": describe_crash(e)})


def _stop_taking_inputs() -> None:
    """After a stall the body's thread may still run: retire this container (no-op off Modal)."""
    try:
        import modal
        import modal.experimental

        if not modal.is_local():
            modal.experimental.stop_fetching_inputs()
    except Exception:  # noqa: BLE001 - best effort
        pass


def execute(
    job: dict[str, Any],
    jobs: MutableMapping[str, Any],
    *,
    resource: str,
    state: Any = None,
    cold_start: bool | None = None,
    config=None,
    store_factory: Callable[[], Any] | None = None,
    min_interval: float = 0.2,
    handoff: Callable[[Any, Any], str | None] | None = None,
) -> dict[str, Any]:
    """Run one attempt of `job` and return its outcome (see module docstring)."""
    from ..capabilities import get_capability
    from ..config import get_config
    from ..runtime.context import RuntimeContext
    from ..runtime.progress import MappingSink
    from ..runtime.watchdog import Watchdog, supervise

    config = config or get_config()
    kind, job_id = job["kind"], job["job_id"]
    fn = config.function(kind)
    attempt = _next_attempt(jobs, job_id)
    started = time.time()
    # A retry carries what earlier attempts showed and spent (a first attempt: nothing, even
    # if a hand-off's probe left an entry). Attempts that crashed (no raise) left nothing.
    hold = _held_progress(jobs, job_id) if attempt > 1 else None
    earlier_seconds, earlier_billed = _earlier_spent(jobs, job_id) if attempt > 1 else (0.0, {})
    if state is None:
        state, cold_start = warm_state(kind)

    capability = get_capability(kind)
    workdir = Path(tempfile.mkdtemp(prefix=f"canvascast-{job_id}-"))
    watchdog = Watchdog(stall_timeout=fn.stall_timeout, timeout=watchdog_timeout(fn.timeout))
    ctx = RuntimeContext(
        job_id=job_id,
        attempt=attempt,
        workdir=workdir,
        sink=MappingSink(jobs, progress_key(job_id), hold=hold),
        watchdog=watchdog,
        store_factory=store_factory,
        min_interval=min_interval,
    )
    _RUNNING[job_id] = ctx
    with _BILLS_LOCK:
        _BILLS[job_id] = {}
    billed: dict[str, float] = {}
    retry: CapabilityError | None = None
    error: dict[str, Any] | None = None
    try:
        request = capability.request_model.model_validate(job["input"])
        target = handoff(request, ctx) if handoff is not None and not job.get("sized") else None
        if target:  # the job belongs on another resource: not an attempt, the backend respawns it there
            # The probe's container ran (and billed) all the same: its time goes into the job's cost.
            return {"ok": False, "handoff": target, "seconds": round(time.time() - started, 3), "resource": resource}
        _record_attempt(jobs, job_id, {"attempt": attempt, "started_at": started, "cold_start": bool(cold_start)})
        result = supervise(lambda: capability.run(state, request, ctx), watchdog)
    except CapabilityError as e:
        if e.code in ("stalled", "timeout"):
            _stop_taking_inputs()
        if e.retryable and attempt <= fn.retries and e.code not in FINAL_CODES:
            retry = e  # Modal's retry policy runs the next attempt (raised below, once this one's time is counted)
        else:
            error = e.to_error().model_dump(mode="json")
    except Exception as e:  # noqa: BLE001 - a bug in a capability is a coded failure, not a crash
        if hasattr(e, "errors"):  # pydantic ValidationError on the input
            from ..errors import VALIDATION_ERROR

            error = {"code": VALIDATION_ERROR, "message": str(e)[:2000], "retryable": False}
        else:
            error = {"code": INTERNAL, "message": describe_crash(e), "retryable": False}
    finally:
        _RUNNING.pop(job_id, None)
        with _BILLS_LOCK:
            billed = _BILLS.pop(job_id, None) or {}
        shutil.rmtree(workdir, ignore_errors=True)
    # Every attempt ran and billed, a failed one too (as in-house prices every finish).
    seconds = round(earlier_seconds + time.time() - started, 3)
    billed = add_billed(earlier_billed, billed)
    if retry is not None:
        _carry_spent(jobs, job_id, seconds, billed)
        raise retry
    spent = {"seconds": seconds, "resource": resource, "billed": billed, "attempt": attempt}
    if error is not None:
        return {"ok": False, "error": error, **spent, "finished_at": time.time()}
    try:
        ctx.reporter.flush()  # a throttled last update, before the output that ends the job
    except Exception:  # noqa: BLE001 - a failed Dict write must not fail (or, retried, re-run) a finished job
        pass
    return {
        "ok": True,
        "result": result.model_dump(mode="json"),
        **spent,
        "finished_at": time.time(),
        "cold_start": bool(cold_start),
    }


def _carry_spent(jobs: MutableMapping[str, Any], job_id: str, seconds: float, billed: dict[str, float]) -> None:
    """Leave what the attempts so far ran for the retry's output (best effort: a failed Dict write
    leaves them out of the cost, it must not turn a retryable failure into a final one)."""
    try:
        jobs[spent_key(job_id)] = {"seconds": seconds, "billed": billed}
    except Exception as e:  # noqa: BLE001 - any store error
        log.warning("attempt's seconds not carried to its retry", extra={"job_id": job_id, "error": describe_crash(e)})
