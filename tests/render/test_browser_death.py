"""The sidecar's browser dies (a crash, the OOM killer) while the Node process lives on.

Remotion's connection never marks itself closed, so the sidecar took a dead browser for a
live one: a render it was running failed for good (`render_failed`, never retried), and
every later render on that worker hung until the 90 s silence timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

from render_support import alive, process_tree, red_scene_props, render_with_short_silence

from modal_functions.errors import CapabilityError
from modal_functions.render import project


def _kill_browser(sc) -> None:
    """SIGKILL the browser's main process (the chromium below the sidecar that is no --type= child)."""
    for pid in process_tree(sc.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        # chromium's children rewrite their argv into one string: look at the whole line
        if b"chrom" in cmdline.split(b"\0")[0] and b"--type=" not in cmdline:
            os.kill(pid, signal.SIGKILL)
            return
    raise AssertionError("no browser process below the sidecar")


def test_a_browser_that_dies_mid_render_is_a_retryable_crash(own_sidecar, tmp_path):
    sc = own_sidecar
    spawns = sc.spawns
    props, comp = red_scene_props(sc, seconds=3.0)
    killed = threading.Event()

    def kill_on_first_frames(msg):
        if msg.get("type") == "progress" and msg.get("rendered", 0) > 0 and not killed.is_set():
            killed.set()
            _kill_browser(sc)

    with pytest.raises(CapabilityError) as e:
        render_with_short_silence(sc, props, comp, tmp_path / "crash.mp4", on_message=kill_on_first_frames)
    assert killed.is_set()
    assert e.value.code == "sidecar_crashed" and e.value.retryable, (e.value.code, e.value.message)
    assert "silent" not in e.value.message, e.value.message
    props, comp = red_scene_props(sc, seconds=1.0)
    assert render_with_short_silence(sc, props, comp, tmp_path / "after.mp4")["frames"] == 24
    assert sc.spawns == spawns + 1


def test_a_browser_that_died_between_renders_is_replaced_for_the_next_one(own_sidecar, tmp_path):
    sc = own_sidecar
    props, comp = red_scene_props(sc, seconds=1.0)
    assert render_with_short_silence(sc, props, comp, tmp_path / "before.mp4")["frames"] == 24
    node = sc.proc.pid
    _kill_browser(sc)
    assert render_with_short_silence(sc, props, comp, tmp_path / "after.mp4")["frames"] == 24
    assert sc.proc.pid == node and alive(node), "the same sidecar, with a new browser"


def test_a_browser_that_cannot_be_reopened_is_a_retryable_crash(render_state, assets, tmp_path, monkeypatch):
    """The browser died between renders and a new one cannot start (chromium failing right after
    an OOM kill): the next render is a retryable sidecar_crashed, as at start-up, not a final
    render_failed."""
    from modal_functions.render.sidecar import Sidecar

    broken = tmp_path / "broken"
    wrapper = tmp_path / "chromium-once"
    wrapper.write_text(f'#!/bin/sh\n[ -e "{broken}" ] && exit 1\nexec {project.BROWSER} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(project, "BROWSER", str(wrapper))
    sc = Sidecar(project.ensure_bundle())
    try:
        sc.ensure()
        shutil.copyfile(assets["red"], sc.serve_dir / "red.png")
        props, comp = red_scene_props(sc, seconds=1.0)
        assert render_with_short_silence(sc, props, comp, tmp_path / "before.mp4")["frames"] == 24
        broken.touch()
        _kill_browser(sc)
        with pytest.raises(CapabilityError) as e:
            render_with_short_silence(sc, props, comp, tmp_path / "after.mp4")
        assert e.value.code == "sidecar_crashed" and e.value.retryable, (e.value.code, e.value.message)
    finally:
        sc.close()
