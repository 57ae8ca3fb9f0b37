"""The render sidecar, from Python: one long-lived Node process per render worker.

`Sidecar` starts `remotion/sidecar/sidecar.mjs` as a plain child of the worker (same
process group, so the pool's `killpg` takes it down with the worker; it also exits
when its stdin closes). The Node process holds the bundle and its open browsers (one per
frame rendered at once, `default_concurrency()`) and
answers line-delimited JSON: a render streams `progress` lines, then `done` or
`error`. A request waits on those messages with a deadline — never on a sleep — and
feeds the job's heartbeat while the sidecar keeps talking. A sidecar that died is
respawned on the next request, on the same port, so the asset URLs already handed out
(props of renders in flight, other workers' chunks) stay valid; if that port is taken
by then, it serves on another one and `request` rebases those URLs (`_rebase`).

    sc = Sidecar(ensure_bundle())
    sc.render(props, Path("out.mp4"), on_progress=lambda done, total: ...)
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import CANCELLED, INTERNAL, CapabilityError
from ..logs import get_logger
from . import project

log = get_logger("canvascast.render.sidecar")

SIDECAR_CRASHED = "sidecar_crashed"
RENDER_FAILED = "render_failed"
RENDERER_CRASHED = "renderer_crashed"  # a tab's renderer died (often the OOM killer); the browser lives on

READY_TIMEOUT_S = 60.0
# The sidecar reports progress every 250 ms while frames flow; this long without a
# word means it is stuck (the job's watchdog would kill us soon after anyway).
SILENCE_TIMEOUT_S = 90.0
HEARTBEAT_EVERY_S = 1.0
# After a `cancel` (the caller's stop event), this long for the sidecar to end the render.
CANCEL_GRACE_S = 10.0

# Encoder settings of every render (the bench uses exactly these for all three paths).
ENCODER: dict[str, Any] = {"crf": 20, "x264Preset": "veryfast", "pixelFormat": "yuv420p", "imageFormat": "jpeg"}

_EOF = object()

# Base URLs a sidecar of this process served at before a respawn moved it to another
# port (its old one was taken): old base URL -> that sidecar. Props staged under an old
# URL are rebased to the sidecar's current one by every request of this process.
_moved: dict[str, "Sidecar"] = {}
_moved_lock = threading.Lock()


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _rebase(value: Any, moved: dict[str, tuple[str, Path]]) -> Any:
    """`value` (props) with every URL under a moved base URL pointed at its new one.

    `moved`: old base URL -> (new base URL, serve dir). Only URLs of files in that serve
    dir change: whatever serves at the old port now (another worker's sidecar) keeps its own.
    """
    if isinstance(value, str):
        for old, (new, serve_dir) in moved.items():
            rel = value[len(old) + 1:] if value.startswith(old + "/") else ""
            if rel and (serve_dir / rel).is_file():
                return f"{new}/{rel}"
        return value
    if isinstance(value, dict):
        return {k: _rebase(v, moved) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebase(v, moved) for v in value]
    return value


def _private_tmp(label: str = "") -> Path:
    """This worker's own dir (`runtime.proctmp`): removed by the parent when the worker is killed."""
    from ..runtime.proctmp import private_dir

    return private_dir(label)


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def cores() -> int:
    """CPUs this process may use: its affinity, and its cgroup's CPU quota (a container's
    `cpu=` limit, which the affinity does not show)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


MAX_BROWSERS = 8  # Remotion's own cap on its default concurrency


def default_concurrency() -> int:
    """Frames a render renders at once, each in a browser of its own (`sidecar/browsers.mjs`):
    RENDER_CONCURRENCY, else one per core (2 here, 8 at most). On these 2 cores two browsers
    render 1.4x the frames per second of one, into one encoder and to the same bytes; two
    tabs of ONE browser were slower than one (docs/render.md, "Browsers")."""
    env = os.environ.get("RENDER_CONCURRENCY")
    wanted = int(env) if env else MAX_BROWSERS
    return max(1, min(wanted, cores()))


class Sidecar:
    def __init__(
        self,
        bundle: Path,
        *,
        serve_dir: Path | None = None,
        chrome_mode: str | None = None,
        log_level: str = "error",
        browsers: int | None = None,
    ):
        self.bundle = Path(bundle)
        # Browsers opened at start, and a render's concurrency unless it asks for another.
        self.browsers = max(1, browsers or default_concurrency())
        self._own_serve = serve_dir is None
        # An own serve dir is named after this process too, so a killed worker's is swept.
        self.serve_dir = Path(serve_dir) if serve_dir else _private_tmp("serve-")
        # Remotion's and chromium's temp files (browser profile, frame buffers, audio
        # mixing) go to a private TMPDIR that is wiped on respawn, removed on close and
        # swept once its process is gone, so a killed worker leaves nothing behind.
        self.tmp_dir = _private_tmp()
        self.chrome_mode = chrome_mode or project.CHROME_MODE
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.spawns = 0
        self._ids = itertools.count(1)
        # request id -> (its queue, the process it was sent to)
        self._queues: dict[str, tuple[queue.Queue, subprocess.Popen]] = {}
        self._qlock = threading.Lock()
        self._request_lock = threading.Lock()
        self._start_lock = threading.Lock()  # ensure() from several threads starts ONE process
        self._stderr: collections.deque[str] = collections.deque(maxlen=200)
        # Set by a process's stdout reader when that output has ended (one per process).
        self._reader_done = threading.Event()

    # ## Lifecycle

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def base_url(self) -> str:
        """Where the serve dir is served. Stable across respawns unless the port was taken."""
        self.ensure()
        return _url(self.port)

    def ensure(self) -> None:
        """Start the Node process, or respawn it (on its previous port) if it died."""
        with self._start_lock:
            if self.alive:
                return
            if self.proc is not None:
                log.warning("render sidecar died; respawning", extra={"returncode": self.proc.returncode, "stderr": self.stderr_tail()})
            self._start()

    def _start(self) -> None:
        project.check_installed()
        self.serve_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)  # whatever a dead sidecar left
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        # Each process gets its own ready queue and end-of-output event, so the reader of a
        # process that died cannot end its successor's start or its requests.
        ready, done = queue.Queue(), threading.Event()
        self._reader_done = done
        started = time.monotonic()
        # No start_new_session: the sidecar (and its chromium) stay in the worker's
        # process group, so killing the worker's group kills them too.
        self.proc = subprocess.Popen(
            [
                project.node(),
                str(project.SIDECAR_SCRIPT),
                "--bundle", str(self.bundle),
                "--serve", str(self.serve_dir),
                "--browser", project.BROWSER,
                "--chrome-mode", self.chrome_mode,
                "--log-level", self.log_level,
                "--browsers", str(self.browsers),
                # a respawn serves where its predecessor did: URLs handed out stay valid
                *(["--port", str(self.port)] if self.port else []),
                *(["--gl", project.GL] if project.GL else []),
            ],
            cwd=project.PROJECT_DIR,
            env={**os.environ, "TMPDIR": str(self.tmp_dir)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.spawns += 1
        proc = self.proc
        threading.Thread(target=self._read_stdout, args=(proc, ready, done), daemon=True, name="sidecar-stdout").start()
        threading.Thread(target=self._read_stderr, args=(proc,), daemon=True, name="sidecar-stderr").start()
        try:
            msg = ready.get(timeout=READY_TIMEOUT_S)
        except queue.Empty:
            self._kill()
            raise CapabilityError(SIDECAR_CRASHED, f"render sidecar not ready after {READY_TIMEOUT_S:.0f}s: {self.stderr_tail()}", retryable=True, http_status=500)
        if msg is _EOF or msg.get("type") != "ready":
            self._kill()
            detail = (msg.get("message") if isinstance(msg, dict) else "") + "\n" + self.stderr_tail()
            raise CapabilityError(SIDECAR_CRASHED, f"render sidecar failed to start: {detail}", retryable=True, http_status=500)
        previous, self.port = self.port, int(msg["port"])
        with _moved_lock:
            _moved.pop(_url(self.port), None)  # that URL is ours now, whoever had it before
            if previous is not None and previous != self.port:
                _moved[_url(previous)] = self
                log.warning("render sidecar port was taken; serving on another", extra={"previous": previous, "port": self.port})
        log.info("render sidecar ready", extra={"pid": proc.pid, "port": self.port, "seconds": round(time.monotonic() - started, 2), "spawns": self.spawns, "browsers": msg.get("browsers")})

    def close(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()  # the sidecar closes its browser and exits
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        if self._own_serve:
            shutil.rmtree(self.serve_dir, ignore_errors=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        with _moved_lock:
            for old in [u for u, sc in _moved.items() if sc is self]:
                del _moved[old]

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(list(self._stderr)[-lines:])

    # ## Reading

    def _read_stdout(self, proc: subprocess.Popen, ready: queue.Queue, done: threading.Event) -> None:
        for line in proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                self._stderr.append(f"[stdout] {line}")
                continue
            kind = msg.get("type")
            if kind in ("ready", "fatal"):
                ready.put(msg)
                continue
            with self._qlock:
                entry = self._queues.get(str(msg.get("id")))
                # An error node could not tie to a request (its line did not parse) belongs
                # to whichever of this process's requests is open: dropping it left that
                # request waiting out the silence timeout.
                targets = [entry[0]] if entry is not None else self._requests_of(proc) if kind == "error" else []
            for target in targets:
                target.put(msg)
        ready.put(_EOF)
        # Under the lock that registers requests: one registered before this sees the end
        # of output, one registered after finds `done` set (`_register`).
        with self._qlock:
            done.set()
            for q in self._requests_of(proc):
                q.put(_EOF)

    def _requests_of(self, proc: subprocess.Popen) -> list[queue.Queue]:
        return [q for q, sent_to in self._queues.values() if sent_to is proc]

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            line = line.rstrip()
            if line and not line.startswith("ALSA lib") and "alsa_util" not in line:
                self._stderr.append(line)

    # ## Requests

    def request(
        self,
        payload: dict[str, Any],
        *,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        heartbeat: Callable[[], None] | None = None,
        silence_timeout: float = SILENCE_TIMEOUT_S,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Send one request and wait for its `done`; raise CapabilityError on `error`/death.

        `cancel` set (before or during the request) ends it with a `cancelled` error: a
        dead sidecar is not respawned for it, a running render is cancelled in the
        sidecar (which is killed if it has not stopped CANCEL_GRACE_S later). A request
        left by an exception of the caller's (`on_message` or `heartbeat` raised, an
        interrupt) is cancelled the same way before the exception goes on (`_abandon`).
        """
        with self._request_lock:
            if cancel is not None and cancel.is_set():
                raise CapabilityError(CANCELLED, "render cancelled before it started", retryable=False, http_status=409)
            rid = str(next(self._ids))
            q: queue.Queue = queue.Queue()
            self._register(rid, q)
            try:
                return self._exchange(rid, q, payload, on_message, heartbeat, silence_timeout, cancel)
            finally:
                with self._qlock:
                    self._queues.pop(rid, None)

    def _register(self, rid: str, q: queue.Queue) -> None:
        """Tie a request to a live process, respawning it if it has died.

        A process can die between `ensure()` and here with its output already read to the
        end; a request tied to it would hear nothing until the silence timeout. So that
        process is reaped and replaced (once) instead.
        """
        for _ in range(2):
            self.ensure()
            with self._start_lock:
                proc, done = self.proc, self._reader_done
            with self._qlock:
                if not done.is_set():
                    self._queues[rid] = (q, proc)
                    return
            try:
                proc.wait(timeout=CANCEL_GRACE_S)  # its output ended: it is exiting
            except subprocess.TimeoutExpired:
                self._kill()
        raise CapabilityError(SIDECAR_CRASHED, f"render sidecar exited as it started: {self.stderr_tail(5)}", retryable=True, http_status=500)

    def _exchange(
        self,
        rid: str,
        q: queue.Queue,
        payload: dict[str, Any],
        on_message: Callable[[dict[str, Any]], None] | None,
        heartbeat: Callable[[], None] | None,
        silence_timeout: float,
        cancel: threading.Event | None,
    ) -> dict[str, Any]:
        """Send a registered request and wait for its `done`."""
        if "props" in payload:
            with _moved_lock:
                moved = {old: (_url(sc.port), sc.serve_dir) for old, sc in _moved.items() if sc.port}
            if moved:
                payload = {**payload, "props": _rebase(payload["props"], moved)}
        self._send({**payload, "id": rid})
        # Whether the sidecar is done with this request (its reply, its exit, or we killed it).
        # Left any other way (a progress callback or heartbeat that raised, an interrupt), the
        # render would go on in the sidecar, and the next request would queue behind it.
        over = False
        try:
            last_word = time.monotonic()
            cancelled_at: float | None = None
            while True:
                if cancel is not None and cancel.is_set():
                    if cancelled_at is None:
                        cancelled_at = time.monotonic()
                        try:
                            self._send({"type": "cancel", "target": rid, "id": str(next(self._ids))})
                        except (CapabilityError, ValueError):  # ValueError: its stdin closed
                            pass  # already gone: its EOF ends the wait
                    elif time.monotonic() - cancelled_at > CANCEL_GRACE_S:
                        self._kill()
                        over = True
                        raise CapabilityError(CANCELLED, f"render cancelled; the sidecar did not stop within {CANCEL_GRACE_S:.0f}s and was killed", retryable=False, http_status=409)
                try:
                    msg = q.get(timeout=HEARTBEAT_EVERY_S)
                except queue.Empty:
                    if time.monotonic() - last_word > silence_timeout:
                        self._kill()
                        over = True
                        raise CapabilityError(SIDECAR_CRASHED, f"render sidecar silent for {silence_timeout:.0f}s; killed", retryable=True, http_status=500)
                    if heartbeat is not None and self.alive:
                        heartbeat()
                    continue
                if msg is _EOF:
                    over = True
                    raise CapabilityError(
                        SIDECAR_CRASHED,
                        f"render sidecar exited (code {self.proc.poll() if self.proc else None}): {self.stderr_tail(5)}",
                        retryable=True,
                        http_status=500,
                    )
                last_word = time.monotonic()
                kind = msg.get("type")
                if kind in ("done", "error"):
                    over = True
                if heartbeat is not None:
                    heartbeat()
                if kind == "done":
                    return msg
                if kind == "error":
                    if msg.get("code") == RENDERER_CRASHED:  # the tab's renderer died, not the job's fault
                        raise CapabilityError(RENDERER_CRASHED, f"render failed: {msg.get('message')}", retryable=True, http_status=500)
                    code = CANCELLED if msg.get("code") == "cancelled" else RENDER_FAILED
                    raise CapabilityError(code, f"render failed: {msg.get('message')}", retryable=False, http_status=500)
                if on_message is not None:
                    on_message(msg)
        except BaseException:
            if not over:
                self._abandon(rid, q)
            raise

    def _abandon(self, rid: str, q: queue.Queue) -> None:
        """Stop a request its caller left (an exception of the caller's own): cancel it in the
        sidecar and wait, at most CANCEL_GRACE_S, for its end; kill the sidecar past that."""
        with self._qlock:
            entry = self._queues.get(rid)
        proc = entry[1] if entry is not None else None
        if proc is None or proc.poll() is not None:
            return
        try:
            self._send({"type": "cancel", "target": rid, "id": str(next(self._ids))})
        except (CapabilityError, ValueError):
            return  # already gone
        deadline = time.monotonic() + CANCEL_GRACE_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = q.get(timeout=left)
            except queue.Empty:
                break
            if msg is _EOF or msg.get("type") in ("done", "error"):
                return
        log.warning("render sidecar did not stop an abandoned request; killing it", extra={"pid": proc.pid})
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def _send(self, payload: dict[str, Any]) -> None:
        try:
            line = json.dumps(payload, allow_nan=False)  # node's JSON.parse refuses NaN/Infinity
        except ValueError as e:
            raise CapabilityError(RENDER_FAILED, f"render request is not valid JSON: {e}", retryable=False, http_status=422) from e
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise CapabilityError(SIDECAR_CRASHED, f"render sidecar is gone: {e}", retryable=True, http_status=500) from e

    def render(
        self,
        props: dict[str, Any],
        output: Path,
        *,
        frame_range: tuple[int, int] | None = None,
        codec: str = "h264",
        separate_audio_to: Path | None = None,
        seamless_aac: bool = False,
        encoder: dict[str, Any] | None = None,
        concurrency: int | None = None,
        composition: dict[str, int] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        heartbeat: Callable[[], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Render the Explainer with `props` to `output`; `on_progress(done_frames, total)`.

        `concurrency`: frames rendered at once, one browser each (default: `self.browsers`;
        more opens more). `composition` ({width, height, fps, durationInFrames}, from `timeline.geometry`)
        skips the sidecar's selectComposition round trip; `props` must then carry every
        default (a pydantic `model_dump` does). `cancel`: see `request`.
        """
        payload: dict[str, Any] = {
            "type": "render",
            "props": props,
            "output": str(output),
            "codec": codec,
            "concurrency": concurrency or self.browsers,
            **(encoder if encoder is not None else ENCODER),
        }
        if composition is not None:
            payload["composition"] = composition
        if frame_range is not None:
            payload["frameRange"] = [int(frame_range[0]), int(frame_range[1])]
        if separate_audio_to is not None:
            payload["separateAudioTo"] = str(separate_audio_to)
        if seamless_aac:
            payload["forSeamlessAacConcatenation"] = True

        def on_message(msg: dict[str, Any]) -> None:
            if msg.get("type") == "progress" and on_progress is not None:
                on_progress(int(msg.get("rendered", 0)), int(msg.get("total", 0)))

        return self.request(payload, on_message=on_message, heartbeat=heartbeat, cancel=cancel)

    def combine(
        self,
        video_files: list[Path],
        audio_files: list[Path],
        output: Path,
        *,
        fps: int,
        frames_per_chunk: int,
        total_frames: int,
        heartbeat: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Join h264-ts chunks and their seamless AAC parts with Remotion's combineChunks."""
        return self.request(
            {
                "type": "combine",
                "output": str(output),
                "videoFiles": [str(p) for p in video_files],
                "audioFiles": [str(p) for p in audio_files],
                "codec": "h264",
                "fps": fps,
                "framesPerChunk": frames_per_chunk,
                "compositionDurationInFrames": total_frames,
            },
            heartbeat=heartbeat,
        )

    def ping(self, timeout: float = 10.0) -> bool:
        try:
            return self.request({"type": "ping"}, silence_timeout=timeout).get("type") == "done"
        except CapabilityError:
            return False


# ## One warm sidecar per process (the pool worker's, or a Modal container's)

_shared: Sidecar | None = None
_shared_lock = threading.Lock()


def shared_sidecar() -> Sidecar:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Sidecar(project.ensure_bundle())
        _shared.ensure()
        return _shared


def close_shared() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
            _shared = None


__all__ = ["Sidecar", "shared_sidecar", "close_shared", "ENCODER", "SIDECAR_CRASHED", "RENDER_FAILED", "RENDERER_CRASHED", "INTERNAL"]
