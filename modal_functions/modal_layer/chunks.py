"""# One render chunk in its own container (`render_chunk.spawn(chunk)`, one call per chunk)

A long render is split into frame ranges that render in parallel on many-core
containers; each chunk file is written under `/cache/chunks/<job>/<fan-out>/` on the
Volume (the only other thing the Volume holds besides weights) and committed, so the
`render_video` container can reload the Volume and combine them.

The fan-out owns its calls (`fanout.py`: plain code, tested without Modal): one
`render_chunk.spawn` per chunk, results collected as they finish, a failed chunk retried
alone (once), and every call not finished cancelled (`terminate_containers=True`) when
the fan-out ends on any path. `render_video` runs its job inside `owning_chunks(job_id)`,
so when the attempt ends, on ANY path (done, failed, stalled or timed out while the body
thread still waits on chunks, Modal's `InputCancellation`), the chunk calls still running
are cancelled first and the job's chunk dir leaves the Volume after (`drop_chunks`).

While `render_video` waits for its chunks, it heartbeats its own job and reports the
frames of the chunks that came back: without that, its watchdog would see a job silent
for longer than `stall_timeout` whenever the chunks (cold starts included) take that
long, and fail a healthy render as `stalled`. It also looks at the job's record every
heartbeat, and stops (cancelling the chunks) once the job was cancelled (or ended otherwise).

The chunk itself is rendered by the plain render code (`modal_functions.render`):
this module only moves files between the container's disk and the Volume.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, MutableMapping

from ..errors import CANCELLED, INTERNAL, CapabilityError, describe_crash
from ..logs import get_logger
from .fanout import CHECK_S, CHUNK_FAILED, SETTLE_S, BilledChunkError, ChunkCalls, fan_out_chunks

log = get_logger("canvascast.modal.chunks")

CHUNK_MODULE = "modal_functions.render.chunks"
HEARTBEAT_S = 5.0  # at most; a quarter of the job's stall_timeout when that is shorter (one small Dict write)


def chunk_dir(job_id: str) -> Path:
    root = Path(os.environ.get("RENDER_CHUNK_DIR", "/cache/chunks"))
    return root / job_id


def drop_chunks(job_id: str, volume: Any = None) -> bool:
    """Remove a job's chunk files from the Volume (after the join, or after a failure).

    Returns whether there was anything to remove; commits only then.
    """
    import shutil

    folder = chunk_dir(job_id)
    if volume is not None and not folder.exists():
        # This container sees the Volume as of its start or last reload: a fan-out that
        # failed or was cancelled never reloaded, so the chunks other containers committed
        # are out of view, and what is out of view cannot be removed.
        try:
            volume.reload()
        except Exception:  # noqa: BLE001 - e.g. files still open on the Volume: the hourly sweep removes them
            pass
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    if volume is not None:
        volume.commit()
    return True


def sweep_stale_chunks(older_than_s: float, *, now: float | None = None, volume: Any = None) -> list[str]:
    """Remove job chunk dirs untouched for `older_than_s` (longer than any render may run).

    The backstop for what `owning_chunks` cannot clean: a `render_video` container killed
    outright (a host failure, a hard kill after a cancel) never runs its cleanup, and a
    cancelled chunk may still commit its file after the drop. Returns the job ids removed;
    commits only when it removed something.
    """
    import shutil
    import time

    root = chunk_dir("x").parent
    if not root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - older_than_s
    removed = []
    for job in sorted(root.iterdir()):
        if job.is_dir() and _newest_mtime(job) < cutoff:
            shutil.rmtree(job, ignore_errors=True)
            removed.append(job.name)
    if removed and volume is not None:
        volume.commit()
    return removed


def _newest_mtime(folder: Path) -> float:
    """The latest modification under `folder` (a chunk landing late refreshes its job's age)."""
    newest = folder.stat().st_mtime
    for p in folder.rglob("*"):
        try:
            newest = max(newest, p.stat().st_mtime)
        except FileNotFoundError:  # removed while we looked
            pass
    return newest


def render_one_chunk(chunk: dict[str, Any], volume: Any = None) -> dict[str, Any]:
    """Render `chunk` (the render code's chunk spec + `job_id`, `fanout`) into the Volume's chunk dir.

    Every failure leaves as a `CapabilityError` (uncoded ones as `chunk_failed`), so the
    caller's `FunctionCall.get(timeout=)` can tell "still running" (the builtin
    `TimeoutError`) from a chunk that failed with, say, a socket timeout, and "Modal did
    not answer" (its client's `ConnectionError` & co., polled again) from a chunk that
    failed with one of those. The result carries `seconds`, the time this container ran
    the chunk, and so does a failure (`BilledChunkError`): both go into the job's cost.
    """
    try:
        module = importlib.import_module(CHUNK_MODULE)
    except ModuleNotFoundError as e:
        raise CapabilityError(INTERNAL, f"chunked rendering needs {CHUNK_MODULE}: {e}") from e
    out_dir = chunk_dir(chunk["job_id"])
    if chunk.get("fanout"):  # one dir per fan-out: a straggler of an earlier attempt never overwrites this one's files
        out_dir = out_dir / str(chunk["fanout"])
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        result = module.render_chunk(chunk, out_dir)
        if volume is not None:
            volume.commit()  # a Modal error here too: the fan-out takes those from a poll as "no answer"
    except CapabilityError as e:
        raise BilledChunkError(e.code, e.message, retryable=e.retryable, http_status=e.http_status, seconds=_since(started)) from None
    except Exception as e:  # noqa: BLE001 - see the docstring
        raise BilledChunkError(CHUNK_FAILED, describe_crash(e), retryable=True, http_status=500, seconds=_since(started)) from None
    # What this container ran for the chunk, for the job's cost (a failure says it too):
    # `render_video`'s own seconds are its job body's, measured the same way (runner.execute).
    return {**result, "seconds": _since(started)}


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


# ## The render attempt owns its chunk calls

_OWNERS: dict[str, ChunkCalls] = {}
_OWNERS_LOCK = threading.Lock()


def chunk_calls(job_id: str) -> ChunkCalls | None:
    """The open owner of `job_id`'s chunk calls in this container (None outside `owning_chunks`)."""
    with _OWNERS_LOCK:
        return _OWNERS.get(job_id)


@contextmanager
def owning_chunks(job_id: str, volume: Any = None, *, settle_s: float | None = None) -> Iterator[ChunkCalls]:
    """Run a render attempt that may fan out; when it ends, on any path: cancel, then drop.

    Every chunk call still running is cancelled (and given `settle_s` to end) BEFORE
    `drop_chunks` removes the job's chunk dir, so no chunk of this attempt is left running.
    """
    owner = ChunkCalls()
    with _OWNERS_LOCK:
        _OWNERS[job_id] = owner
    try:
        yield owner
    finally:
        with _OWNERS_LOCK:
            if _OWNERS.get(job_id) is owner:
                del _OWNERS[job_id]
        try:
            owner.close("the render attempt ended", settle_s=SETTLE_S if settle_s is None else settle_s)
        finally:
            try:
                drop_chunks(job_id, volume=volume)
            except Exception as e:  # noqa: BLE001 - cleanup: a failed commit must not replace the
                # attempt's outcome (a finished render reported failed); `sweep_chunks` is the backstop
                log.warning("chunk dir not dropped", extra={"job_id": job_id, "error": describe_crash(e)})


def chunk_share(active: Any, *, pool: int, renders_max: int) -> int:
    """How many chunk calls one render may plan: `render_chunk`'s containers (`pool`) divided
    among the renders in flight (the `render_video` admission slots taken in the `active`
    Dict, this one included), at least 1 (one range: the render runs in its own container).

    Planning for `render_video`'s whole pool let N renders queue N x pool chunk calls on
    `pool` containers, their own containers idle meanwhile. With the share, renders that
    start one after another plan at most pool x (1 + 1/2 + ... + 1/N) calls (66 for 20
    renders on 20 containers), and a full kind plans one range each. A Dict that cannot be
    read counts every slot taken: the share that never oversubscribes the pool."""
    from .backend import active_key

    prefix = active_key("render_video", "")
    try:
        in_flight = sum(1 for key in list(active.keys()) if str(key).startswith(prefix))
    except Exception as e:  # noqa: BLE001 - the plan only sets how parallel the render is
        log.warning("renders in flight not read; planning the smallest share", extra={"error": describe_crash(e)})
        in_flight = renders_max
    return max(1, pool // max(1, in_flight))


def remote_for_render(config: Any, active: Any) -> Any:
    """The render code's `RemoteChunks` for one `render_video` call: chunks on `render_chunk`
    containers, as many as this render's share of them (see `chunk_share`)."""
    from ..render.chunks import RemoteChunks
    from .settings_from_toml import object_kwargs

    share = chunk_share(active, pool=object_kwargs(config, "render_chunk")["max_containers"],
                        renders_max=object_kwargs(config, "render_video")["max_containers"])
    return RemoteChunks(map=map_chunks, free_workers=share)


def job_cancelled(jobs: MutableMapping[str, Any], job_id: str) -> bool:
    """Whether the job's record says it ended: cancelled (`ModalBackend.cancel` writes that before
    it cancels the call), or settled from outside while this call still runs (a submit lost
    before it stored the call id is failed `interrupted`, and nobody knows the call to cancel)."""
    from ..contract.jobs import JobStatus
    from .backend import job_key

    rec = jobs.get(job_key(job_id)) or {}
    status = (rec.get("job") or {}).get("status")
    return status in {s.value for s in JobStatus if s.terminal}


def map_chunks(specs: list[dict[str, Any]], *, heartbeat_s: float = HEARTBEAT_S) -> list[dict[str, Any]]:
    """In the `render_video` container: render `specs` on parallel `render_chunk` containers.

    Returns the chunk results (paths under the Volume's chunk dir, visible here after the
    reload), ready for `modal_functions.render.chunks.combine` (which orders them). Only
    works inside the deployed app; off Modal, render in-process (`render.chunks.render_chunked`).
    """
    import modal

    from . import app as modal_app
    from .backend import _unreachable_errors
    from .runner import bill, running_context

    if not specs:
        return []
    job_id = specs[0]["job_id"]
    owner = chunk_calls(job_id)
    if owner is None and not modal.is_local():
        # `render_video` owns every attempt's chunks; none open = the attempt already ended
        # (its body thread outlived a stall/timeout): starting calls now would leak them.
        raise CapabilityError(CANCELLED, f"no live render attempt of job {job_id} in this container", http_status=409)
    ctx = running_context(job_id)
    stall = getattr(getattr(getattr(ctx, "reporter", None), "watchdog", None), "stall_timeout", None)
    every = min(heartbeat_s, stall / 4) if stall else heartbeat_s
    fanout = uuid.uuid4().hex[:12]
    jobs = modal_app.jobs_dict()
    results = collect_chunks(
        [{**spec, "fanout": fanout} for spec in specs],
        ctx,
        spawn=modal_app.render_chunk.spawn,
        poll=lambda call, timeout: call.get(timeout=timeout),
        cancel=lambda call: call.cancel(terminate_containers=True),
        calls=owner,
        is_cancelled=lambda: job_cancelled(jobs, job_id),
        heartbeat_s=every,
        unreachable=_unreachable_errors(),  # a poll Modal did not answer is asked again (fanout.py)
        on_billed=lambda seconds: bill(job_id, "render_chunk", seconds),  # into the job's cost (backend._finish)
    )
    modal_app.cache.reload()
    return results


def collect_chunks(
    specs: list[dict[str, Any]],
    ctx: Any,
    *,
    spawn: Callable[[dict[str, Any]], Any],
    poll: Callable[[Any, float], dict[str, Any]],
    cancel: Callable[[Any], None],
    calls: ChunkCalls | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    **fan_out: Any,
) -> list[dict[str, Any]]:
    """Fan `specs` out (`fanout.fan_out_chunks`), keeping the job alive and its progress current (frames done)."""
    total = specs[0].get("totalFrames") if specs else None

    def on_result(_result: dict[str, Any], results: list[dict[str, Any]]) -> None:
        if ctx is not None:
            done = sum(int(r.get("frames") or 0) for r in results)
            ctx.progress(done, total, "frames", f"{len(results)}/{len(specs)} chunks rendered")

    def on_retry(index: int, _error: BaseException) -> None:
        if ctx is not None:
            last = ctx.last_progress
            ctx.progress(last.done or 0, total, "frames", f"chunk {index + 1}/{len(specs)} failed; rendering it again")

    with _beating(ctx.heartbeat if ctx is not None else None, heartbeat_s):
        return fan_out_chunks(
            specs, spawn=spawn, poll=poll, cancel=cancel, calls=calls, on_result=on_result, on_retry=on_retry,
            is_cancelled=is_cancelled, check_s=min(heartbeat_s, CHECK_S), **fan_out,
        )


@contextmanager
def _beating(beat: Callable[[], None] | None, every: float) -> Iterator[None]:
    """Call `beat` from a side thread every `every` seconds while the block runs."""
    if beat is None:
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                beat()
            except Exception:  # noqa: BLE001 - a failed Dict write must not end the wait
                pass

    thread = threading.Thread(target=loop, name="chunks-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
