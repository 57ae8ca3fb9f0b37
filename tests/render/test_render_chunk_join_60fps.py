"""Short chunks at 60 fps join into the whole video, not one chunk's worth of it.

Every h264-ts chunk starts at the same timestamp, and the ffmpeg under combineChunks
shifts a chunk after its predecessor only when the timestamps jump back by over 0.1 s
(its discontinuity rule), measured from the previous chunk's last frame. At 60 fps a
chunk of 5 to 7 frames is under that: the frames were squeezed onto the first chunk's
timestamps, and a 12-frame render came out 0.1 s long (verification failed it, after all
the rendering). Chunks now last at least MIN_CHUNK_JOIN_SECONDS as well as 5 frames.
"""

from __future__ import annotations

import math

import pytest

from modal_functions.render.chunks import MIN_CHUNK_FRAMES, MIN_CHUNK_JOIN_SECONDS, plan_chunks

from render_support import ffprobe


@pytest.mark.parametrize("fps", [24, 25, 30, 60])
@pytest.mark.parametrize("frames", [9, 10, 12, 17, 18, 31, 60, 101])
@pytest.mark.parametrize("requested", [2, 3, 7, 64])
def test_every_chunk_is_long_enough_to_join(fps, frames, requested):
    ranges = plan_chunks(frames, 1, fps=fps, requested=requested)
    lengths = [b - a + 1 for a, b in ranges]
    assert sum(lengths) == frames and ranges[0][0] == 0 and ranges[-1][1] == frames - 1
    if len(ranges) > 1:
        least = max(MIN_CHUNK_FRAMES, math.ceil(MIN_CHUNK_JOIN_SECONDS * fps))
        assert min(lengths) >= least, f"{fps} fps: chunks {lengths}"
        # ffmpeg's rule, with the previous chunk's last frame: (frames - 1) / fps over 0.1 s
        assert (lengths[0] - 1) / fps > 0.1
        assert len(set(lengths[:-1])) == 1, "all the same length except the last"


def test_the_30_fps_plans_keep_five_frame_chunks():
    assert plan_chunks(10, 1, fps=30, requested=3) == [(0, 4), (5, 9)]
    assert plan_chunks(10, 1, fps=24, requested=2) == [(0, 4), (5, 9)]


def test_a_60_fps_render_forced_into_short_chunks_is_whole(run_render, store, assets, tmp_path):
    t = {
        "aspectRatio": "1:1", "resolution": 360, "fps": 60, "durationMs": 300, "title": None,
        "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": 150},
                   {"image": str(assets["blue"]), "startMs": 150, "endMs": 300, "transition": "cut"}],
    }
    result, _, _ = run_render({"timeline": t, "chunks": 3})  # 3 x 6 frames before: 0.1 s of video
    assert result.frames == 18 and result.chunks == 2
    out = tmp_path / "60fps.mp4"
    store.get_to_file(result.video.key, out)
    video = next(s for s in ffprobe(out)["streams"] if s["codec_type"] == "video")
    assert video["nb_frames"] == "18"
    assert abs(float(video["duration"]) - 0.3) < 1 / 60
