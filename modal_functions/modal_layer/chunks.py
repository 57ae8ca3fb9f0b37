"""# One render chunk in its own container (`render_chunk.map(chunks)`)

A long render is split into frame ranges that render in parallel on many-core
containers; each chunk file is written under `/cache/chunks/<job>/` on the Volume
(the only other thing the Volume holds besides weights) and committed, so the
`render_video` container can reload the Volume and combine them. When that job
ends, on any path, `drop_chunks` removes the job's chunk dir from the Volume.

While `render_video` waits for the `.map`, it heartbeats its own job and reports the
frames of the chunks that came back: without that, its watchdog would see a job
silent for longer than `stall_timeout` whenever the chunks (cold starts included)
take that long, and fail a healthy render as `stalled`.

The chunk itself is rendered by the plain render code (`modal_functions.render`):
this module only moves files between the container's disk and the Volume.
"""

from __future__ import annotations

import importlib
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..errors import INTERNAL, CapabilityError

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
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    if volume is not None:
        volume.commit()
    return True


def render_one_chunk(chunk: dict[str, Any], volume: Any = None) -> dict[str, Any]:
    """Render `chunk` (the render code's chunk spec + `job_id`) into the Volume's chunk dir."""
    try:
        module = importlib.import_module(CHUNK_MODULE)
    except ModuleNotFoundError as e:
        raise CapabilityError(INTERNAL, f"chunked rendering needs {CHUNK_MODULE}: {e}") from e
    out_dir = chunk_dir(chunk["job_id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    result = module.render_chunk(chunk, out_dir)
    if volume is not None:
        volume.commit()
    return result


def map_chunks(specs: list[dict[str, Any]], *, heartbeat_s: float = HEARTBEAT_S) -> list[dict[str, Any]]:
    """In the `render_video` container: render `specs` on parallel `render_chunk` containers.

    Returns the chunk results (paths under the Volume's chunk dir, visible here after the
    reload), ready for `modal_functions.render.chunks.combine` (which orders them). Only
    works inside the deployed app; off Modal, render in-process (`render.chunks.render_chunked`).
    """
    from . import app as modal_app
    from .runner import running_context

    ctx = running_context(specs[0]["job_id"]) if specs else None
    stall = getattr(getattr(getattr(ctx, "reporter", None), "watchdog", None), "stall_timeout", None)
    every = min(heartbeat_s, stall / 4) if stall else heartbeat_s
    results = collect_chunks(specs, modal_app.render_chunk.map(specs, order_outputs=False), ctx, heartbeat_s=every)
    modal_app.cache.reload()
    return results


def collect_chunks(specs: list[dict[str, Any]], outputs: Iterable[dict[str, Any]], ctx: Any, *, heartbeat_s: float = HEARTBEAT_S) -> list[dict[str, Any]]:
    """Drain the chunk outputs, keeping the job alive and its progress current (frames done)."""
    results: list[dict[str, Any]] = []
    total = specs[0].get("totalFrames") if specs else None
    with _beating(ctx.heartbeat if ctx is not None else None, heartbeat_s):
        for result in outputs:
            results.append(result)
            if ctx is not None:
                done = sum(int(r.get("frames") or 0) for r in results)
                ctx.progress(done, total, "frames", f"{len(results)}/{len(specs)} chunks rendered")
    return results


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
