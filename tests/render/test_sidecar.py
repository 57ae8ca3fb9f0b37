"""The warm sidecar: one Node process with the bundle and a browser, respawned when it dies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from render_support import alive, process_tree

from modal_functions.contract.render import Timeline
from modal_functions.errors import CapabilityError
from modal_functions.render.timeline import check_timeline

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _unstage(request):
    """The sidecar is shared with the other render tests: what a test here staged goes with it."""
    yield
    if "render_state" in request.fixturenames:
        shutil.rmtree(request.getfixturevalue("render_state").sidecar.serve_dir / "sidecar-test", ignore_errors=True)


def _props(render_state, assets, seconds: float = 1.0) -> tuple[dict, dict]:
    """Props for a tiny render, with the assets staged into the sidecar's serve dir."""
    sc = render_state.sidecar
    folder = sc.serve_dir / "sidecar-test"
    folder.mkdir(exist_ok=True)
    (folder / "red.png").write_bytes(assets["red"].read_bytes())
    timeline = Timeline.model_validate({
        "resolution": 360, "fps": 24, "durationMs": seconds * 1000,
        "scenes": [{"image": f"{sc.base_url}/sidecar-test/red.png", "startMs": 0, "endMs": seconds * 1000}],
    })
    return timeline.model_dump(mode="json"), check_timeline(timeline).composition()


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        threading.Event().wait(0.1)
    return predicate()


def test_sidecar_is_a_child_in_the_workers_process_group(render_state):
    sc = render_state.sidecar
    sc.ensure()
    assert os.getpgid(sc.proc.pid) == os.getpgid(0)
    assert sc.ping()


def test_render_feeds_the_heartbeat_and_reports_frames(render_state, assets, tmp_path):
    props, comp = _props(render_state, assets)
    beats, progress = [], []
    done = render_state.sidecar.render(props, tmp_path / "o.mp4", composition=comp,
                                       on_progress=lambda d, t: progress.append((d, t)), heartbeat=lambda: beats.append(1))
    assert done["frames"] == 24 and beats
    assert progress and all(t == 24 for _, t in progress) and progress[-1][0] == 24


def test_crash_mid_render_is_retryable_and_the_sidecar_respawns(render_state, assets, tmp_path):
    sc = render_state.sidecar
    sc.ensure()
    spawns = sc.spawns
    props, comp = _props(render_state, assets, seconds=3.0)
    killed = threading.Event()

    def kill_on_first_frame(done, total):
        if not killed.is_set():
            killed.set()
            os.kill(sc.proc.pid, signal.SIGKILL)

    with pytest.raises(CapabilityError) as e:
        sc.render(props, tmp_path / "crash.mp4", composition=comp, on_progress=kill_on_first_frame)
    assert e.value.code == "sidecar_crashed" and e.value.retryable
    props, comp = _props(render_state, assets)  # the serve dir survives; new port though
    done = sc.render(props, tmp_path / "after.mp4", composition=comp)
    assert done["frames"] == 24 and sc.spawns == spawns + 1


def test_killing_the_worker_group_takes_down_sidecar_and_browser(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent("""
        import sys, threading
        from modal_functions.render.sidecar import Sidecar
        from modal_functions.render import project
        sc = Sidecar(project.ensure_bundle()); sc.ensure()
        print(sc.proc.pid, flush=True)
        threading.Event().wait()
    """))
    env = {**os.environ, "CANVASCAST_DATA_DIR": str(ROOT / ".canvascast"), "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True, env=env)
    try:
        node_pid = int(worker.stdout.readline())
        descendants = process_tree(worker.pid)
        assert node_pid in descendants and any(_comm(p).startswith("chrom") for p in descendants)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # what the pool does to a stuck worker
        worker.wait()
    assert _wait_until(lambda: not [p for p in descendants if alive(p)], timeout=20), \
        f"left behind: {[(p, _comm(p)) for p in descendants if alive(p)]}"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
