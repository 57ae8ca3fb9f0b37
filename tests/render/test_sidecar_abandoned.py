"""A render request left by an exception that is not the sidecar's own (a progress write
that fails, an interrupt) must not leave its render running in the sidecar.

The sidecar renders one request at a time: a render nobody waits for any more kept the
worker's browser and cores, and the worker's next render waited behind it (until the
90 s silence timeout killed the sidecar, when the old render ran that long).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modal_functions.contract.render import Timeline
from modal_functions.render import project
from modal_functions.render.timeline import check_timeline


@pytest.fixture
def own_sidecar(render_state, assets):
    """A sidecar of this test's own, with a red scene staged."""
    from modal_functions.render.sidecar import Sidecar

    sc = Sidecar(project.ensure_bundle())
    sc.ensure()
    shutil.copyfile(assets["red"], sc.serve_dir / "red.png")
    yield sc
    sc.close()


def _props(sc, seconds: float) -> tuple[dict, dict]:
    timeline = Timeline.model_validate({
        "resolution": 360, "fps": 24, "durationMs": seconds * 1000,
        "scenes": [{"image": f"{sc.base_url}/red.png", "startMs": 0, "endMs": seconds * 1000}],
    })
    return timeline.model_dump(mode="json"), check_timeline(timeline).composition()


class ProgressWriteFailed(Exception):
    pass


@pytest.mark.parametrize("where", ["progress", "heartbeat"])
def test_a_render_left_by_a_callback_error_is_cancelled_in_the_sidecar(own_sidecar, tmp_path, where):
    sc = own_sidecar
    spawns = sc.spawns
    props, comp = _props(sc, seconds=4.0)
    abandoned: Path = tmp_path / "abandoned.mp4"

    def fail(*_args):
        raise ProgressWriteFailed(f"the {where} write failed")

    callbacks = {"on_progress": fail} if where == "progress" else {"heartbeat": fail}
    with pytest.raises(ProgressWriteFailed):
        sc.render(props, abandoned, composition=comp, concurrency=1, **callbacks)

    # The sidecar answers requests in order: once the next render is done, the abandoned one
    # has ended too, and it must have ended cancelled, not rendered to its end.
    props, comp = _props(sc, seconds=1.0)
    assert sc.render(props, tmp_path / "next.mp4", composition=comp, concurrency=1)["frames"] == 24
    assert not abandoned.exists(), "the abandoned render kept rendering to its end"
    assert sc.spawns == spawns, "the sidecar stopped the render itself: no kill, no respawn"
