"""A tab's renderer dies under a render (the OOM killer's usual pick: the biggest process)
while the browser lives on.

Remotion fails that render with "Page crashed!", and the sidecar reported it as a final
`render_failed`, so the job was never retried, although nothing in the job was wrong and
a fresh attempt renders it (the same crash of the whole browser is a retryable
`sidecar_crashed`).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from render_support import alive, process_tree, red_scene_props, render_with_short_silence

from modal_functions.errors import CapabilityError


def _renderers(sc) -> list[int]:
    """The chromium renderer processes below the sidecar (one per tab)."""
    found = []
    for pid in process_tree(sc.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"--type=renderer" in cmdline:
            found.append(pid)
    return found


def test_a_renderer_that_dies_mid_render_is_retryable_and_the_browser_serves_on(own_sidecar, tmp_path):
    sc = own_sidecar
    spawns = sc.spawns
    props, comp = red_scene_props(sc, seconds=3.0)
    killed: list[int] = []

    def kill_on_first_frames(msg):
        if msg.get("type") == "progress" and msg.get("rendered", 0) > 0 and not killed:
            killed.extend(_renderers(sc))
            assert killed, "no renderer process below the sidecar"
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with pytest.raises(CapabilityError) as e:
        render_with_short_silence(sc, props, comp, tmp_path / "crash.mp4", on_message=kill_on_first_frames)
    assert killed
    assert e.value.code == "renderer_crashed" and e.value.retryable, (e.value.code, e.value.message)
    assert "silent" not in e.value.message, e.value.message
    node = sc.proc.pid
    props, comp = red_scene_props(sc, seconds=1.0)
    assert render_with_short_silence(sc, props, comp, tmp_path / "after.mp4")["frames"] == 24
    assert sc.spawns == spawns and sc.proc.pid == node and alive(node), "the same sidecar and browser served on"
