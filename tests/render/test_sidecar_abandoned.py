"""A render request left by an exception that is not the sidecar's own (a progress write
that fails, an interrupt) must not leave its render running in the sidecar.

The sidecar renders one request at a time: a render nobody waits for any more kept the
worker's browser and cores, and the worker's next render waited behind it (until the
90 s silence timeout killed the sidecar, when the old render ran that long).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from render_support import red_scene_props


class ProgressWriteFailed(Exception):
    pass


@pytest.mark.parametrize("where", ["progress", "heartbeat"])
def test_a_render_left_by_a_callback_error_is_cancelled_in_the_sidecar(own_sidecar, tmp_path, where):
    sc = own_sidecar
    spawns = sc.spawns
    props, comp = red_scene_props(sc, seconds=4.0)
    abandoned: Path = tmp_path / "abandoned.mp4"

    def fail(*_args):
        raise ProgressWriteFailed(f"the {where} write failed")

    callbacks = {"on_progress": fail} if where == "progress" else {"heartbeat": fail}
    with pytest.raises(ProgressWriteFailed):
        sc.render(props, abandoned, composition=comp, concurrency=1, **callbacks)

    # The sidecar answers requests in order: once the next render is done, the abandoned one
    # has ended too, and it must have ended cancelled, not rendered to its end.
    props, comp = red_scene_props(sc, seconds=1.0)
    assert sc.render(props, tmp_path / "next.mp4", composition=comp, concurrency=1)["frames"] == 24
    assert not abandoned.exists(), "the abandoned render kept rendering to its end"
    assert sc.spawns == spawns, "the sidecar stopped the render itself: no kill, no respawn"
