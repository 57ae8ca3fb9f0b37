"""Render robustness: a dead sidecar comes back at its URL, tiny chunks, stopping a chunked
render (Ctrl-C, SIGTERM), and the CLI's output path checked before anything renders."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from render_support import alive, process_tree

from modal_functions.contract.render import Timeline
from modal_functions.errors import CapabilityError
from modal_functions.render import chunks as chunks_mod
from modal_functions.render.chunks import MIN_CHUNK_FRAMES, plan_chunks
from modal_functions.render.timeline import check_timeline
from modal_functions.render.verify import verify_output

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stage(assets):
    """`stage(sidecar, folder, *names)`: test assets copied into the sidecar's serve dir, and
    their URLs (at its current base URL); the folders go at teardown (the dir is shared)."""
    folders: list[Path] = []

    def stage(sidecar, folder: str, *names: str) -> dict[str, str]:
        target = sidecar.serve_dir / folder
        target.mkdir(exist_ok=True)
        folders.append(target)
        urls = {}
        for name in names:
            shutil.copyfile(assets[name], target / assets[name].name)
            urls[name] = f"{sidecar.base_url}/{folder}/{assets[name].name}"
        return urls

    yield stage
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _tiny(urls: dict[str, str], seconds: float = 1.0, fps: int = 24) -> tuple[dict, dict]:
    timeline = Timeline.model_validate({
        "resolution": 360, "fps": fps, "durationMs": seconds * 1000,
        "scenes": [{"image": urls["red"], "startMs": 0, "endMs": seconds * 1000}],
    })
    return timeline.model_dump(mode="json"), check_timeline(timeline).composition()


def _kill(sidecar) -> None:
    os.kill(sidecar.proc.pid, signal.SIGKILL)
    sidecar.proc.wait()
    assert not sidecar.alive


def _video_pts(path: Path) -> list[float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return sorted(float(x) for x in out.split())


def _chunk_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("chunk-") and t.is_alive()]


# ## 1. A respawned sidecar serves the staged assets at the same URL


def test_a_respawned_sidecar_serves_at_its_old_url_for_the_other_sidecars(render_state, stage, tmp_path):
    """The pool case: another worker's browser reads the job's assets from the job's sidecar."""
    main, other = render_state.sidecars(2)
    other.ensure()
    urls = stage(main, "respawn-same-url", "red")
    base, spawns = main.base_url, main.spawns
    _kill(main)
    main.ensure()  # the job's next request respawns it
    assert main.spawns == spawns + 1 and main.base_url == base
    props, comp = _tiny(urls)
    assert other.render(props, tmp_path / "other.mp4", composition=comp)["frames"] == 24


def test_when_its_old_port_is_taken_the_sidecar_moves_and_the_urls_follow(render_state, stage, tmp_path):
    main, other = render_state.sidecars(2)
    urls = stage(main, "respawn-port-taken", "red")
    old_port = main.port
    _kill(main)
    squatter = socket.socket()
    try:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        props, comp = _tiny(urls)  # props under the old base URL, as a chunk in flight has them
        assert main.render(props, tmp_path / "main.mp4", composition=comp)["frames"] == 24
        assert main.port != old_port
        # every sidecar of this process rebases the moved URLs (render_chunked's other browsers)
        assert other.render(props, tmp_path / "other.mp4", composition=comp)["frames"] == 24
    finally:
        squatter.close()


def _short(assets) -> dict:
    return {
        "resolution": 360, "fps": 24, "durationMs": 1500,
        "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": 700}, {"image": str(assets["blue"]), "startMs": 700, "endMs": 1500}],
        "narration": str(assets["narration"]),
    }


def test_killing_the_asset_sidecar_mid_chunk_the_retry_reads_the_same_url(run_render, render_state, assets, monkeypatch):
    main = render_state.sidecar
    main.ensure()
    port, spawns = main.port, main.spawns
    real = chunks_mod.render_chunk
    killed = threading.Event()
    calls: list[int] = []
    victim: list[int] = []

    def killing(spec, out_dir, **kw):
        calls.append(spec["index"])
        inner = kw.get("on_progress")
        if kw.get("sidecar") is main and not killed.is_set():
            def on_progress(done, total):
                if not killed.is_set():
                    killed.set()
                    victim.append(spec["index"])
                    os.kill(main.proc.pid, signal.SIGKILL)
                if inner is not None:
                    inner(done, total)
            kw["on_progress"] = on_progress
        return real(spec, out_dir, **kw)

    monkeypatch.setattr(chunks_mod, "render_chunk", killing)
    result, _, _ = run_render({"timeline": _short(assets), "chunks": 2})
    assert killed.is_set() and result.chunks == 2 and result.frames == 36
    assert calls.count(victim[0]) == 2, f"the killed chunk runs once more, got {calls}"
    assert main.spawns == spawns + 1 and main.port == port


# ## 2. Every chunk has at least 5 frames (combineChunks' seamless AAC join needs them)


def test_plan_chunks_gives_every_chunk_at_least_five_frames():
    assert plan_chunks(10, 1, requested=3) == [(0, 4), (5, 9)]
    assert plan_chunks(31, 1, requested=6) == [(0, 7), (8, 15), (16, 23), (24, 30)]  # not 6 x 5 + 1
    assert plan_chunks(4, 8, requested=3) == [(0, 3)]
    assert plan_chunks(1800, 4, fps=30) == [(0, 449), (450, 899), (900, 1349), (1350, 1799)]
    for frames in range(1, 260):
        for requested in range(1, 65):
            ranges = plan_chunks(frames, 1, requested=requested)
            lengths = [b - a + 1 for a, b in ranges]
            assert ranges[0][0] == 0 and ranges[-1][1] == frames - 1 and sum(lengths) == frames
            assert len(set(lengths[:-1])) <= 1 and lengths[-1] <= lengths[0], (frames, requested, lengths)
            assert len(ranges) <= requested
            assert len(ranges) == 1 or min(lengths) >= MIN_CHUNK_FRAMES, (frames, requested, lengths)


def test_ten_frames_forced_into_three_chunks_render_whole(run_render, store, assets, tmp_path):
    timeline = {**_short(assets), "fps": 30, "durationMs": 333,
                "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": 150}, {"image": str(assets["green"]), "startMs": 150, "endMs": 333}]}
    result, _, _ = run_render({"timeline": timeline, "chunks": 3})  # verified inside: bad_output before
    assert (result.chunks, result.frames) == (2, 10)
    out = tmp_path / "c10.mp4"
    store.get_to_file(result.video.key, out)
    pts = _video_pts(out)
    assert len(pts) == len(set(pts)) == 10


def test_a_short_last_chunk_is_folded_into_fewer_chunks(render_state, assets, tmp_path):
    """31 frames in 6 chunks were 6 x 5 + 1: that 1-frame chunk put two frames on one timestamp."""
    from modal_functions.render.assets import stage_assets

    timeline = Timeline.model_validate({**_short(assets), "durationMs": 1292,  # 31 frames at 24 fps
                                        "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": 700},
                                                   {"image": str(assets["blue"]), "startMs": 700, "endMs": 1292}]})
    geo = check_timeline(timeline)
    ranges = plan_chunks(geo.frames, 2, fps=geo.fps, requested=6)
    assert geo.frames == 31 and [b - a + 1 for a, b in ranges] == [8, 8, 8, 7]

    def fetch(ref: str, _suffix: str) -> Path:
        copy = tmp_path / "fetched" / Path(ref).name
        copy.parent.mkdir(exist_ok=True)
        return Path(shutil.copyfile(ref, copy))

    main = render_state.sidecar
    staged = stage_assets(timeline, fetch, main.serve_dir, main.base_url)
    try:
        out = chunks_mod.render_chunked(staged.props(timeline), geo, tmp_path / "out.mp4", tmp_path / "chunks",
                                        render_state.sidecars(2), ranges)
    finally:
        staged.cleanup()
    verify_output(out, geo)
    pts = _video_pts(out)
    assert len(pts) == len(set(pts)) == 31


# ## 3. A chunked render that ends stops its chunks: no retry, no respawn, no late files


def test_render_chunk_does_not_make_a_removed_job_dir_again(render_state, tmp_path):
    gone = tmp_path / "job-dir-removed"
    with pytest.raises(OSError):
        chunks_mod.render_chunk({"index": 0, "frameRange": [0, 4]}, gone / "chunks", sidecar=render_state.sidecar, props={}, composition={})
    assert not gone.exists()


def test_a_cancelled_request_does_not_respawn_a_dead_sidecar(render_state, stage, tmp_path):
    main = render_state.sidecar
    props, comp = _tiny(stage(main, "cancelled-request", "red"))
    _kill(main)
    spawns = main.spawns
    stop = threading.Event()
    stop.set()
    with pytest.raises(CapabilityError) as e:
        main.render(props, tmp_path / "never.mp4", composition=comp, cancel=stop)
    assert e.value.code == "cancelled" and not main.alive and main.spawns == spawns
    main.ensure()


def test_an_interrupted_chunked_render_cancels_its_chunks_and_joins_them(render_state, stage, tmp_path, monkeypatch):
    sidecars = render_state.sidecars(2)
    for sc in sidecars:
        sc.ensure()
    spawns = [sc.spawns for sc in sidecars]
    urls = stage(sidecars[0], "interrupted-chunks", "red", "narration")
    timeline = Timeline.model_validate({"resolution": 360, "fps": 24, "durationMs": 3000, "narration": urls["narration"],
                                        "scenes": [{"image": urls["red"], "startMs": 0, "endMs": 3000}]})
    geo = check_timeline(timeline)
    real = chunks_mod.render_chunk
    started, outcomes = [], []
    rendering = threading.Event()

    def tracking(spec, out_dir, **kw):
        started.append(spec["index"])
        try:
            result = real(spec, out_dir, **kw)
        except BaseException as e:
            outcomes.append(getattr(e, "code", type(e).__name__))
            raise
        outcomes.append("done")
        return result

    def heartbeat():
        if rendering.is_set():
            raise KeyboardInterrupt  # Ctrl-C in the main thread, mid-chunk

    monkeypatch.setattr(chunks_mod, "render_chunk", tracking)
    with pytest.raises(KeyboardInterrupt):
        chunks_mod.render_chunked(timeline.model_dump(mode="json"), geo, tmp_path / "out.mp4", tmp_path / "chunks", sidecars,
                                  plan_chunks(geo.frames, 2, requested=2), on_progress=lambda done, total: rendering.set(),
                                  heartbeat=heartbeat)
    assert not _chunk_threads(), "the chunk threads are joined before render_chunked returns"
    assert sorted(started) == [0, 1] and len(outcomes) == 2, f"no retry after the stop: {started} {outcomes}"
    assert "cancelled" in outcomes, outcomes
    assert [sc.spawns for sc in sidecars] == spawns, "no sidecar respawned"
    assert all(sc.ping() for sc in sidecars), "a cancelled chunk leaves its sidecar warm"


CHILD = textwrap.dedent("""
    import sys, threading
    from modal_functions.render import chunks

    real, said = chunks.render_chunk, threading.Event()

    def announcing(spec, out_dir, **kw):
        inner = kw.get("on_progress")

        def on_progress(done, total):
            if not said.is_set():
                said.set()
                print("rendering", flush=True)
            if inner is not None:
                inner(done, total)

        return real(spec, out_dir, **{**kw, "on_progress": on_progress})

    chunks.render_chunk = announcing
    from modal_functions.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_stopping_a_chunked_cli_render_leaves_nothing_behind(render_state, assets, tmp_path, how):
    timeline = tmp_path / "t.json"
    timeline.write_text(json.dumps({**_short(assets), "durationMs": 3000,
                                    "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": 3000}]}))
    tmp = Path(tempfile.mkdtemp(prefix="ccr-", dir="/tmp"))  # short: chromium's socket path has a limit
    env = {**os.environ, "TMPDIR": str(tmp), "REMOTION_BUNDLE_DIR": str(render_state.bundle), "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, "render", str(timeline), "-o", str(tmp_path / "out.mp4"), "-q", "--chunks", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    descendants: set[int] = set()
    try:
        line = child.stdout.readline()
        assert line.strip() == "rendering", child.stderr.read()
        descendants = process_tree(child.pid)
        if how == "sigterm":
            os.kill(child.pid, signal.SIGTERM)  # timeout(1), systemd: the CLI process only
        else:
            os.killpg(child.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
        rc = child.wait(timeout=120)
        stderr = child.stderr.read()
        assert rc == (143 if how == "sigterm" else 130), stderr
        assert "Traceback" not in stderr, stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(p) for p in descendants):
            threading.Event().wait(0.1)
        assert not [p for p in descendants if alive(p)], "sidecars and browsers end with the CLI"
        # checked once nothing of the CLI runs any more: nothing was written after it exited
        left = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
        assert left in ([], ["canvascast-proc"]), left
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        for pid in descendants:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


# ## 4. The CLI checks its output path before loading anything


def _cli(argv: list[str]) -> int:
    from modal_functions.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


@pytest.fixture
def cli_timeline(assets, tmp_path) -> Path:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_short(assets)))
    return path


def test_an_output_that_cannot_be_written_fails_before_loading(cli_timeline, monkeypatch, capsys):
    from modal_functions.render import capability

    def never(*_a, **_k):
        raise AssertionError("the render capability was loaded")

    monkeypatch.setattr(capability, "CAPABILITY", dataclasses.replace(capability.CAPABILITY, load=never, run=never))
    assert _cli(["render", str(cli_timeline), "-o", "/proc/out.mp4", "-q"]) == 2
    err = capsys.readouterr().err
    assert "error [bad_output]" in err and "/proc/out.mp4" in err


def test_a_failed_copy_on_a_read_only_filesystem_is_a_bad_output(cli_timeline, tmp_path, monkeypatch, capsys):
    """EROFS at the end: the .part file's removal fails too; the user still gets bad_output."""
    from modal_functions.contract.render import RenderVideoResult
    from modal_functions.render import capability, commands

    out = tmp_path / "out.mp4"
    rendered = threading.Event()

    def fake_run(_state, request, ctx):
        video = tmp_path / "rendered.mp4"
        video.write_bytes(b"\0" * 64)
        rendered.set()
        return RenderVideoResult(video=ctx.store.put_file(video, ".mp4", "video/mp4"), durationMs=1500, frames=36,
                                 width=640, height=360, fps=24, chunks=1)

    def read_only(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system")

    real_unlink = Path.unlink

    def unlink(self, *a, **k):
        if rendered.is_set() and self.name.endswith(".part"):
            read_only()
        return real_unlink(self, *a, **k)

    monkeypatch.setattr(capability, "CAPABILITY", dataclasses.replace(capability.CAPABILITY, load=lambda: None, run=fake_run, close=lambda _s: None))
    real_copyfile = shutil.copyfile

    def copyfile(*a, **k):
        if rendered.is_set():
            read_only()
        return real_copyfile(*a, **k)

    monkeypatch.setattr(commands.shutil, "copyfile", copyfile)
    monkeypatch.setattr(Path, "unlink", unlink)
    assert _cli(["render", str(cli_timeline), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "error [bad_output]" in err and "Read-only file system" in err and not out.exists()
