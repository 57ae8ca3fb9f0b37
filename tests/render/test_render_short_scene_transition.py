"""A scene shorter than `transitionMs` enters over its own length, never blending three scenes.

Neither the zod schema nor the pydantic timeline ties `transitionMs` to a scene's length, so a
250 ms scene with the default 500 ms fade is a valid timeline. The composition faded it in over
the full 500 ms: when the next scene began fading in over it, it was itself half transparent
over the scene before, and the frame was a mud of three pictures. The entry (and the previous
scene's stay underneath it) is now clamped to the scene's own frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from render_support import SCENE_COLOURS, decode_frames


@pytest.mark.parametrize("transition", ["fade", "slide"])
def test_a_short_scene_is_whole_when_the_next_one_enters(run_render, store, assets, tmp_path, transition):
    t = {
        "aspectRatio": "16:9", "resolution": 360, "fps": 24, "durationMs": 2000, "title": None, "transitionMs": 500,
        "scenes": [
            {"image": str(assets["red"]), "startMs": 0, "endMs": 1000, "transition": "cut",
             "kenBurnsFrom": {"zoom": 1.0}, "kenBurnsTo": {"zoom": 1.0}},
            {"image": str(assets["green"]), "startMs": 1000, "endMs": 1250, "transition": transition,  # 6 frames
             "kenBurnsFrom": {"zoom": 1.0}, "kenBurnsTo": {"zoom": 1.0}},
            {"image": str(assets["blue"]), "startMs": 1250, "endMs": 2000, "transition": transition,
             "kenBurnsFrom": {"zoom": 1.0}, "kenBurnsTo": {"zoom": 1.0}},
        ],
    }
    result, _, _ = run_render({"timeline": t})
    out = tmp_path / "short.mp4"
    store.get_to_file(result.video.key, out)
    frames = decode_frames(out, 640, 360).astype(np.int16)
    red = SCENE_COLOURS["red"][0]
    # green and blue have the same red channel (30); the first scene's is 220
    for f in range(30, 42):  # the third scene's entry (12 frames from 1250 ms)
        r = int(np.percentile(frames[f, :, :, 0], 99))
        assert r < 30 + 25, f"frame {f}: the first scene (red {red}) still shows through: red channel up to {r}"
    assert np.abs(frames[30, 180, 320] - np.array(SCENE_COLOURS["green"])).max() < 25, "the short scene is whole when the next enters"
