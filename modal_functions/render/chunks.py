"""Chunked rendering: frame ranges rendered in parallel, joined without A/V drift.

Each chunk is rendered as `h264-ts` with its audio written separately
(`separateAudioTo`) and `forSeamlessAacConcatenation`, then Remotion's
`combineChunks` joins video and AAC parts exactly (ffmpeg's concat demuxer would
drift audio against video). Per-chunk AAC encodes cannot decode to a single
render's samples, so the drivers also make ONE whole-timeline audio render
(`render_audio`, codec "aac": the single render's own mix and encode, no
screenshots) and `combine(..., audio=)` stream-copies it over the joined audio:
the output's audio decodes to exactly the single render's samples. Three drivers
use the same plain functions:

- in-house pool: `render_on_pool()` renders chunk 0 on the job's worker and hands
  the others to the render pool's idle workers (`runtime.parts.fan_out`); each of
  those renders its chunk on its own warm sidecar (`render_chunk_part`), reading the
  assets from the job's sidecar over loopback. A chunk nobody picked up, or one that
  failed elsewhere, is rendered by the job's worker, alone;
- no pool (CLI, bench): `render_chunked()` spreads chunks over a few local sidecars
  (browsers) in threads; a failed chunk is retried alone on a respawned sidecar;
- Modal: the render container makes `chunk_specs()`, maps `render_chunk()` over CPU
  containers (modal_functions/modal_layer/chunks.py), renders the audio itself, then
  calls `combine()`.

The chunk count comes from the frame count and the free workers (`plan_chunks`);
every chunk has at least MIN_CHUNK_FRAMES frames and MIN_CHUNK_JOIN_SECONDS
(combineChunks joins shorter ones wrongly).
"""

from __future__ import annotations

import math
import queue
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..contract.render import Timeline
from ..errors import CapabilityError
from ..logs import get_logger
from ..runtime.parts import PartsClient, fan_out
from .sidecar import Sidecar, default_concurrency, shared_sidecar
from .timeline import Geometry, check_timeline

log = get_logger("canvascast.render.chunks")

ChunkMapper = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass
class RemoteChunks:
    """How a deployment renders chunks elsewhere (Modal: `render_chunk.map` over containers).

    `map(specs)` returns one `render_chunk` result per spec, with `video`/`audio` paths
    this process can read (e.g. on a reloaded Volume); `free_workers` bounds the count.
    """

    map: ChunkMapper
    free_workers: int


_remote: RemoteChunks | None = None


def set_remote_chunks(remote: RemoteChunks | None) -> None:
    """Registered by the Modal layer in the render_video container; None = in-house sidecars."""
    global _remote
    _remote = remote


def remote_chunks() -> RemoteChunks | None:
    return _remote

MIN_CHUNK_SECONDS = 10.0  # below this a chunk's browser/encoder start-up outweighs the gain
# Remotion's combineChunks joins the chunks' AAC parts seamlessly only when framesPerChunk
# is over 4 (`canConcatAudioSeamlessly`); our chunks are always rendered for a seamless
# join (`forSeamlessAacConcatenation`), and joining them the other way keeps only the
# first chunk's worth of the video. A last chunk of 1 or 2 frames comes out of the join
# with two frames on one timestamp (the duration a frame short). So every chunk has at
# least 5 frames, the last one too, whatever count was asked for.
MIN_CHUNK_FRAMES = 5
CHUNK_RETRIES = 1
# Every h264-ts chunk starts at the same timestamp; the ffmpeg under combineChunks moves
# a chunk after its predecessor only when the timestamps jump back by over 0.1 s from
# that one's last frame (its discontinuity rule), else it squeezes the chunk onto the
# same timestamps: at 60 fps, chunks of 5 to 7 frames joined into 0.1 s of video. 8
# frames (0.117 s between first and last) join; this leaves one frame of margin.
MIN_CHUNK_JOIN_SECONDS = 0.15


def min_chunk_frames(fps: int) -> int:
    """The fewest frames a chunk may have at `fps` (the last one too)."""
    return max(MIN_CHUNK_FRAMES, math.ceil(MIN_CHUNK_JOIN_SECONDS * fps))


def plan_chunks(frames: int, free_workers: int, *, fps: int = 30, requested: int | None = None) -> list[tuple[int, int]]:
    """Inclusive frame ranges, all the same length except the last (combineChunks needs that).

    The count (`requested`, or from frames and free workers) is lowered until every
    chunk, the last (shorter) one included, has `min_chunk_frames(fps)` frames: 10 frames
    in 3 chunks are 2 chunks of 5; 31 in 6 are 4 (8, 8, 8, 7), not 6 x 6 + 1; at 60 fps
    every chunk has 9 frames or more.
    """
    least = min_chunk_frames(fps)
    if requested is not None:
        count = requested
    else:
        by_length = max(1, int(frames // max(1, MIN_CHUNK_SECONDS * fps)))
        count = max(1, min(free_workers, by_length))
    count = max(1, min(count, frames // least))
    while True:
        per = math.ceil(frames / count)
        last = frames - (math.ceil(frames / per) - 1) * per
        if count == 1 or last >= least:
            break
        count -= 1
    ranges = []
    start = 0
    while start < frames:
        end = min(frames, start + per) - 1
        ranges.append((start, end))
        start = end + 1
    return ranges


def chunk_specs(job_id: str, timeline: Timeline, ranges: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """JSON-able chunk descriptions (for `.map` on Modal): the timeline keeps its references."""
    geo = check_timeline(timeline)
    per = ranges[0][1] - ranges[0][0] + 1
    data = timeline.model_dump(mode="json")
    return [
        {
            "job_id": job_id,
            "index": i,
            "count": len(ranges),
            "frameRange": [a, b],
            "framesPerChunk": per,
            "totalFrames": geo.frames,
            "fps": geo.fps,
            "timeline": data,
        }
        for i, (a, b) in enumerate(ranges)
    ]


def chunk_concurrency(parallel: int) -> int:
    """Browsers for each of `parallel` chunks rendering at once on this machine: its share."""
    return max(1, default_concurrency() // max(1, parallel))


def chunk_paths(out_dir: Path, index: int) -> tuple[Path, Path]:
    return out_dir / f"chunk-{index:04d}.ts", out_dir / f"chunk-{index:04d}.aac"


def render_chunk(
    chunk: dict[str, Any],
    out_dir: Path,
    *,
    sidecar: Sidecar | None = None,
    props: dict[str, Any] | None = None,
    composition: dict[str, int] | None = None,
    fetch: Callable[[str, str], Path] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """Render one chunk into `out_dir`; returns {index, video, audio, frames}.

    `concurrency` (or the spec's "concurrency"): browsers the chunk renders with; the
    sidecar's own count by default, as on a Modal chunk container, which has its cores
    to itself. Chunks sharing a machine split its cores (`chunk_concurrency`).

    `props` are ready Remotion props (in-house: assets already staged). Without them
    (a Modal chunk container) the chunk's timeline assets are fetched here with `fetch`
    (default: a context over this deployment's artifact store) and removed afterwards.
    `out_dir`'s parent must exist: a job dir removed under a late chunk is not made
    again. `cancel` set: the chunk stops (`Sidecar.request`).
    """
    sidecar = sidecar or shared_sidecar()
    out_dir = Path(out_dir)
    out_dir.mkdir(exist_ok=True)
    video, audio = chunk_paths(out_dir, int(chunk["index"]))
    staged = None
    ctx = None
    try:
        if props is None:
            from .assets import stage_assets

            timeline = Timeline.model_validate(chunk["timeline"])
            if fetch is None:
                from ..runtime.context import LocalTaskContext

                ctx = LocalTaskContext(job_id=f"{chunk.get('job_id', 'chunk')}-{chunk['index']}", allow_local_paths=False)
                fetch = ctx.fetch_input
            staged = stage_assets(timeline, fetch, sidecar.serve_dir, sidecar.base_url, heartbeat=heartbeat)
            props = staged.props(timeline)
            composition = check_timeline(timeline).composition()
        a, b = chunk["frameRange"]
        sidecar.render(
            props,
            video,
            frame_range=(a, b),
            codec="h264-ts",
            separate_audio_to=audio,
            seamless_aac=True,
            composition=composition,
            concurrency=concurrency or chunk.get("concurrency"),
            on_progress=on_progress,
            heartbeat=heartbeat,
            cancel=cancel,
        )
        return {"index": int(chunk["index"]), "video": str(video), "audio": str(audio), "frames": b - a + 1}
    finally:
        if staged is not None:
            staged.cleanup()
        if ctx is not None:
            ctx.close()


def render_audio(
    props: dict[str, Any],
    out_dir: Path,
    *,
    sidecar: Sidecar | None = None,
    composition: dict[str, int] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> Path:
    """The whole timeline's soundtrack as ONE AAC encode (`codec: "aac"`, an .m4a).

    It is the same audio mix and the same AAC encode (encoder, bitrate, priming) as
    the single h264 render's audio track, so `combine(..., audio=)` makes a chunked
    render decode to exactly the single render's samples. An audio-only render takes
    no screenshots, so it costs a small part of a chunk.
    """
    sidecar = sidecar or shared_sidecar()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "audio.m4a"
    sidecar.render(props, path, codec="aac", encoder={}, composition=composition, heartbeat=heartbeat)
    return path


# Remotion encodes its AAC with libfdk_aac to a raw ADTS stream and stream-copies that into
# the MP4: the encoder's delay (2048 samples at Remotion's 48 kHz, AAC-LC) has nowhere to go,
# so the track began with 42.7 ms of priming, every sound played that late against the
# picture and the captions, and the audio ran 2-3 AAC frames past the video. Shifted back by
# the delay, the stream starts before zero and ffmpeg writes the skip into the MP4 edit list,
# which players (and ffmpeg) honour: the same AAC packets, in sync, ending within one AAC
# frame (its padding) of the video. tests/render/test_render_audio_length.py measures it.
AAC_DELAY_S = 2048 / 48000


def mux_audio(video: Path, audio: Path, output: Path) -> Path:
    """`video`'s video stream + `audio`'s (a Remotion AAC) audio stream into `output`, both
    stream-copied, the audio's encoder delay skipped by the edit list (`AAC_DELAY_S`)."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(video), "-itsoffset", f"-{AAC_DELAY_S:.9f}", "-i", str(audio),
         "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-movflags", "+faststart", str(output)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise CapabilityError("render_failed", f"muxing the audio track failed: {proc.stderr[-500:]}", http_status=500)
    return output


def combine(
    results: list[dict[str, Any]],
    output: Path,
    *,
    fps: int,
    frames_per_chunk: int,
    total_frames: int,
    audio: Path | None = None,
    sidecar: Sidecar | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> Path:
    """Join rendered chunks (any order in `results`) into one MP4 at `output`.

    With `audio` (from `render_audio`), that whole-timeline AAC track replaces the
    chunks' joined audio (stream copy), so the samples equal a single render's.
    """
    ordered = sorted(results, key=lambda r: r["index"])
    if [r["index"] for r in ordered] != list(range(len(ordered))):
        raise CapabilityError("chunk_missing", f"chunks {sorted(r['index'] for r in ordered)} are not a complete set", retryable=True, http_status=500)
    sidecar = sidecar or shared_sidecar()
    output = Path(output)
    joined = output.with_name(output.stem + ".joined" + output.suffix) if audio is not None else output
    try:
        sidecar.combine(
            [Path(r["video"]) for r in ordered],
            [Path(r["audio"]) for r in ordered],
            joined,
            fps=fps,
            frames_per_chunk=frames_per_chunk,
            total_frames=total_frames,
            heartbeat=heartbeat,
        )
        if audio is not None:
            mux_audio(joined, Path(audio), output)
    finally:
        if audio is not None:
            joined.unlink(missing_ok=True)
    return output


def render_chunked(
    props: dict[str, Any],
    geo: Geometry,
    output: Path,
    work_dir: Path,
    sidecars: list[Sidecar],
    ranges: list[tuple[int, int]],
    *,
    on_progress: Callable[[int, int], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> Path:
    """In-house: chunks spread over `sidecars` in threads; a failed chunk is retried alone.

    `props` point at `sidecars[0]`'s server (the assets are staged there), which the
    other sidecars' browsers read too: it is respawned before any chunk runs elsewhere.
    However the chunks end (done, a chunk failed for good, Ctrl-C/SIGTERM or any other
    exception here), a stop event cancels the chunks still rendering, no chunk is
    retried and no sidecar respawned after it, and the threads are joined before this
    returns, so nothing writes into `work_dir` once the caller removes it.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    todo: queue.Queue = queue.Queue()
    for i, r in enumerate(ranges):
        todo.put((i, r, 0))
    done: dict[int, int] = {}
    results: dict[int, dict[str, Any]] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()
    per = ranges[0][1] - ranges[0][0] + 1
    server = sidecars[0]
    concurrency = chunk_concurrency(min(len(sidecars), len(ranges)))

    def report() -> None:
        if on_progress is not None:
            with lock:
                total_done = sum(done.values())
            on_progress(total_done, geo.frames)

    def fail(e: BaseException) -> None:
        errors.append(e)
        stop.set()  # the render has failed: the other chunks stop too

    def worker(sc: Sidecar) -> None:
        while not stop.is_set():
            try:
                index, (a, b), tries = todo.get_nowait()
            except queue.Empty:
                return
            spec = {"index": index, "frameRange": [a, b]}

            def progress(rendered: int, _total: int, index: int = index) -> None:
                with lock:
                    done[index] = rendered
                report()

            try:
                if sc is not server:
                    server.ensure()  # the assets' server died (a chunk of its own failed): back, same URL
                results[index] = render_chunk(spec, work_dir, sidecar=sc, props=props, composition=geo.composition(),
                                              on_progress=progress, cancel=stop, concurrency=concurrency)
            except CapabilityError as e:
                with lock:
                    done[index] = 0
                if stop.is_set():
                    return  # the render is over: no retry, no respawn
                if tries < CHUNK_RETRIES:
                    log.warning("chunk failed; retrying it alone", extra={"chunk": index, "error": e.message})
                    todo.put((index, (a, b), tries + 1))
                else:
                    fail(e)
                    return
            except BaseException as e:  # noqa: BLE001 - surfaced below
                fail(e)
                return

    threads = [threading.Thread(target=worker, args=(sc,), daemon=True, name=f"chunk-{i}") for i, sc in enumerate(sidecars)]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=1.0)
                if heartbeat is not None:
                    heartbeat()
    finally:
        stop.set()
        for t in threads:
            while t.is_alive():  # each one ends within its chunk's cancel grace
                t.join(timeout=1.0)
    if errors:
        raise errors[0]
    if len(results) != len(ranges):
        raise CapabilityError("chunk_missing", f"{len(ranges) - len(results)} chunk(s) never rendered", retryable=True, http_status=500)
    audio = render_audio(props, work_dir, sidecar=server, composition=geo.composition(), heartbeat=heartbeat)
    return combine(list(results.values()), output, fps=geo.fps, frames_per_chunk=per, total_frames=geo.frames, audio=audio, sidecar=server, heartbeat=heartbeat)


def render_on_pool(
    parts: PartsClient,
    props: dict[str, Any],
    geo: Geometry,
    output: Path,
    work_dir: Path,
    ranges: list[tuple[int, int]],
    *,
    sidecar: Sidecar,
    on_progress: Callable[[int, int], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> Path:
    """In-house pool: chunk 0 on this worker's sidecar, the others on the pool's idle workers.

    `props` point at this worker's sidecar server (assets staged there), which the
    other workers' browsers read over loopback; chunk files go to `work_dir`, which
    this job owns and the runtime removes.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    composition = geo.composition()
    # the chunks rendering at once (this worker and the pool's idle ones) share this machine's cores
    concurrency = chunk_concurrency(min(len(ranges), 1 + parts.idle()))
    specs = [
        {"index": i, "frameRange": [a, b], "props": props, "composition": composition, "outDir": str(work_dir),
         "concurrency": concurrency}
        for i, (a, b) in enumerate(ranges)
    ]

    def here(index: int, spec: dict[str, Any], report: Callable[[float], None]) -> dict[str, Any]:
        return render_chunk(spec, work_dir, sidecar=sidecar, props=props, composition=composition,
                            on_progress=lambda done, _total: report(done), heartbeat=heartbeat)

    results = fan_out(parts, specs, here, heartbeat=heartbeat,
                      on_progress=(lambda done: on_progress(int(done), geo.frames)) if on_progress else None)
    per = ranges[0][1] - ranges[0][0] + 1
    audio = render_audio(props, work_dir, sidecar=sidecar, composition=composition, heartbeat=heartbeat)
    return combine(results, output, fps=geo.fps, frames_per_chunk=per, total_frames=geo.frames, audio=audio, sidecar=sidecar, heartbeat=heartbeat)


def render_chunk_part(
    spec: dict[str, Any],
    *,
    sidecar: Sidecar,
    on_progress: Callable[[int, int], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """One chunk of another worker's job (a `render_on_pool` spec), on this worker's sidecar."""
    return render_chunk(spec, Path(spec["outDir"]), sidecar=sidecar, props=spec["props"], composition=spec["composition"],
                        on_progress=on_progress, heartbeat=heartbeat)
