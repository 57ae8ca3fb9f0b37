"""# render_video: a timeline in, a verified MP4 artifact out

The story of one job:

1. **Submission** (`validate`, in the API process): the pydantic `Timeline` has
   checked each field; `check_timeline` checks times (none negative, scenes and words
   in order without overlap, all inside the duration) and the size; artifact keys must
   exist in the store. Any problem is a 422 with a code before anything is queued.
2. **Warm worker** (`load`, once per pool worker or Modal container): the Remotion
   bundle is built (or found) and ONE sidecar starts: a Node process with the bundle
   and its open chromiums (one per frame rendered at once). Later jobs reuse them.
3. **Run**: the assets are fetched with `ctx.fetch_input` into the sidecar's serve
   directory and checked (images decode, audio has an audio stream); the props point
   at the sidecar's loopback server. The sidecar renders, streaming frame progress,
   which becomes job progress in frames and keeps the heartbeat fed. Long timelines
   with free workers render in chunks (chunks.py) and are joined exactly: on Modal
   over CPU containers, in-house over the render pool's idle workers (`run_part`).
4. **Verification**: ffprobe checks codec, resolution, duration (within one frame)
   and the audio stream; only then is the MP4 stored (`ctx.store.put_file`) and the
   job done. The staged assets are removed on every path.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..capability import Capability, TaskContext
from ..contract.render import RenderVideoRequest, RenderVideoResult
from ..errors import CapabilityError
from ..logs import get_logger
from . import project
from .assets import stage_assets
from .chunks import (chunk_concurrency, chunk_specs, combine, mux_audio, plan_chunks, remote_chunks, render_audio,
                     render_chunk_part, render_chunked, render_on_pool)
from .sidecar import Sidecar, cores, shared_sidecar
from .timeline import MISSING_ASSET, asset_refs, check_timeline
from .verify import verify_output

log = get_logger("canvascast.render")

ARTIFACT_PREFIXES = ("artifacts/", "renders/")


@dataclass
class RenderState:
    bundle: Path
    sidecar: Sidecar
    extra: list[Sidecar] = field(default_factory=list)  # started on demand for in-house chunks
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sidecars(self, n: int) -> list[Sidecar]:
        """`n` warm sidecars (the main one first). Each extra one has a serve dir of its own;
        their browsers read the job's assets from the main one's server (`render_chunked`)."""
        with self.lock:
            while len(self.extra) < n - 1:
                self.extra.append(Sidecar(self.bundle, browsers=chunk_concurrency(n)))
            return [self.sidecar, *self.extra[: n - 1]]


CORES_PER_RENDER = 2  # a chunk's share: each chunk renders with a browser per core of it (chunk_concurrency)


def free_workers(idle_pool_workers: int | None = None) -> int:
    """Renders one chunked job may run at once on this machine.

    RENDER_PARALLEL overrides. Otherwise one per 2 cores (on 2 cores one render already
    keeps a browser on each core, so chunking stays off unless asked for), and in the
    in-house pool no more than this worker plus the pool's idle workers.
    """
    env = os.environ.get("RENDER_PARALLEL")
    if env:
        return max(1, int(env))
    by_cores = max(1, cores() // CORES_PER_RENDER)
    return by_cores if idle_pool_workers is None else max(1, min(by_cores, 1 + idle_pool_workers))


def load() -> RenderState:
    sidecar = shared_sidecar()
    return RenderState(bundle=sidecar.bundle, sidecar=sidecar)


def close(state: RenderState) -> None:
    for sc in state.extra:
        sc.close()
    from .sidecar import close_shared

    close_shared()


def validate(request: RenderVideoRequest) -> None:
    check_timeline(request.timeline)
    keys = [ref for ref in asset_refs(request.timeline) if ref.startswith(ARTIFACT_PREFIXES)]
    if not keys:
        return
    try:
        from ..storage import get_store

        store = get_store()
    except Exception:  # noqa: BLE001 - no store configured here: the run checks again
        return
    for ref, use in asset_refs(request.timeline).items():
        if ref in keys and not store.exists(ref):
            raise CapabilityError(MISSING_ASSET, f"{use}: no artifact {ref!r} in the store", http_status=422)


def run(state: RenderState, request: RenderVideoRequest, ctx: TaskContext) -> RenderVideoResult:
    timeline = request.timeline
    geo = check_timeline(timeline)
    started = time.monotonic()
    ctx.progress(0, geo.frames, "frames", "fetching assets")
    sidecar = state.sidecar
    staged = stage_assets(timeline, ctx.fetch_input, sidecar.serve_dir, sidecar.base_url, heartbeat=ctx.heartbeat)
    try:
        props = staged.props(timeline)
        remote = remote_chunks()
        parts = getattr(ctx, "parts", None)  # the in-house pool's idle workers
        if remote is not None:
            workers = remote.free_workers
        elif parts is not None and request.chunks is None:
            workers = free_workers(parts.idle())
        else:
            workers = free_workers()
        ranges = plan_chunks(geo.frames, workers, fps=geo.fps, requested=request.chunks)
        output = Path(ctx.workdir) / "render.mp4"

        # A retried chunk counts up from zero again (render_chunked, the pool's fan_out): the job's
        # progress holds at its high-water mark until the retry passes it, never steps back.
        high = [0]
        high_lock = threading.Lock()

        def on_progress(done: int, total: int) -> None:
            with high_lock:
                if done < high[0]:
                    ctx.heartbeat()  # still rendering
                    return
                high[0] = min(done, geo.frames)
                # under the lock: two chunk threads' reports must not reach the job out of order
                ctx.progress(high[0], geo.frames, "frames", "rendering")

        if len(ranges) > 1 and remote is not None:
            # Modal: each chunk container fetches the assets itself from the store; what had
            # to be converted is stored converted first, so no chunk converts it again.
            ctx.progress(0, geo.frames, "frames", f"rendering {len(ranges)} chunks")
            shared = staged.with_conversions_stored(timeline, ctx.store)
            results = remote.map(chunk_specs(ctx.job_id, shared, ranges))
            per = ranges[0][1] - ranges[0][0] + 1
            # The soundtrack is one whole-timeline AAC encode here (cheap: no screenshots),
            # so the output's audio decodes to exactly a single render's samples.
            audio = render_audio(props, Path(ctx.workdir), sidecar=sidecar, composition=geo.composition(), heartbeat=ctx.heartbeat)
            combine(results, output, fps=geo.fps, frames_per_chunk=per, total_frames=geo.frames, audio=audio, sidecar=sidecar, heartbeat=ctx.heartbeat)
        elif len(ranges) == 1:
            remotion = Path(ctx.workdir) / "render.remotion.mp4"
            sidecar.render(props, remotion, composition=geo.composition(), on_progress=on_progress, heartbeat=ctx.heartbeat)
            mux_audio(remotion, remotion, output)  # the AAC's encoder delay into the edit list, as a chunked render's
            remotion.unlink()
        elif parts is not None:
            ctx.progress(0, geo.frames, "frames", f"rendering {len(ranges)} chunks")
            render_on_pool(parts, props, geo, output, Path(ctx.workdir) / "chunks", ranges, sidecar=sidecar,
                           on_progress=on_progress, heartbeat=ctx.heartbeat)
        else:
            sidecars = state.sidecars(min(len(ranges), max(free_workers(), request.chunks or 1)))
            render_chunked(
                props, geo, output, Path(ctx.workdir) / "chunks", sidecars, ranges,
                on_progress=on_progress, heartbeat=ctx.heartbeat,
            )
        ctx.progress(geo.frames, geo.frames, "frames", "verifying")
        verify_output(output, geo)
        ref = ctx.store.put_file(output, ".mp4", "video/mp4")
    finally:
        staged.cleanup()
    seconds = round(time.monotonic() - started, 3)
    log.info("rendered", extra={"job_id": ctx.job_id, "frames": geo.frames, "chunks": len(ranges), "seconds": seconds})
    return RenderVideoResult(
        video=ref,
        durationMs=geo.frames * 1000.0 / geo.fps,
        frames=geo.frames,
        width=geo.width,
        height=geo.height,
        fps=geo.fps,
        chunks=len(ranges),
        renderSeconds=seconds,
        degraded=timeline.degraded,
    )


def run_part(state: RenderState, spec: dict, ctx: TaskContext) -> dict:
    """A chunk of a render running on another worker of this pool (chunks.render_on_pool)."""
    return render_chunk_part(spec, sidecar=state.sidecar, heartbeat=ctx.heartbeat,
                             on_progress=lambda done, total: ctx.progress(done, total, "frames", "rendering a chunk"))


CAPABILITY = Capability(
    kind="render_video",
    request_model=RenderVideoRequest,
    result_model=RenderVideoResult,
    load=load,
    run=run,
    validate=validate,
    close=close,
    run_part=run_part,
    refs=lambda req: asset_refs(req.timeline),
)

__all__ = ["CAPABILITY", "RenderState", "load", "run", "run_part", "validate", "close", "free_workers", "project"]
