"""The output's audio stream is as long as the video (within one AAC frame), and verification checks it.

Remotion's AAC track came out 2-3 AAC frames (43-64 ms) longer than the video: the encoder's
last frame, padded with silence, and the tail the mix rounds up to. ffprobe verification looked
at the video's duration only, so an audio track of any length passed.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from modal_functions.errors import CapabilityError
from modal_functions.render.timeline import Geometry
from modal_functions.render.verify import verify_output

AAC_FRAME_S = 1024 / 48000


def _durations(path) -> dict[str, float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return {s["codec_type"]: float(s["duration"]) for s in json.loads(out)["streams"]}


@pytest.mark.parametrize("fps,ms,chunks,sound", [(24, 1500, None, True), (30, 1000, None, False), (25, 2000, 2, True)])
def test_the_audio_stream_ends_with_the_video(run_render, store, assets, tmp_path, fps, ms, chunks, sound):
    timeline = {
        "resolution": 360, "fps": fps, "durationMs": ms, "titleMs": 0,
        "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": ms}],
        **({"narration": str(assets["narration"]), "music": str(assets["music"])} if sound else {}),
    }
    body = {"timeline": timeline, **({"chunks": chunks} if chunks else {})}
    result, _, _ = run_render(body)
    out = tmp_path / "out.mp4"
    store.get_to_file(result.video.key, out)
    d = _durations(out)
    assert abs(d["video"] - result.frames / fps) < 1e-3
    assert abs(d["audio"] - d["video"]) <= AAC_FRAME_S + 1e-3, d


def _with_audio_of(tmp_path, seconds: float):
    """A 1 s, 24 fps h264 video whose AAC track lasts `seconds`."""
    path = tmp_path / f"a{seconds}.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=red:s=64x36:r=24:d=1",
                    "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(path)], check=True)
    return path


def test_verification_refuses_an_audio_track_that_ends_early_or_late(tmp_path):
    geo = Geometry(width=64, height=36, fps=24, frames=24)
    verify_output(_with_audio_of(tmp_path, 1.0), geo)
    for seconds in (0.5, 1.5):
        with pytest.raises(CapabilityError) as e:
            verify_output(_with_audio_of(tmp_path, seconds), geo)
        assert e.value.code == "bad_output" and "audio" in e.value.message


def _clicks(path, seconds: float, at: tuple[float, ...]) -> None:
    """A silent 48 kHz WAV with a 1 ms burst at each of `at` (seconds)."""
    import wave

    import numpy as np

    pcm = np.zeros(int(seconds * 48000), dtype=np.int16)
    for t in at:
        pcm[int(t * 48000): int(t * 48000) + 48] = 20000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm.tobytes())


@pytest.mark.parametrize("chunks", [None, 2])
def test_a_sound_plays_at_its_time_in_the_video(run_render, store, assets, tmp_path, chunks):
    """A click at 0.25 s of the narration is heard at 0.25 s of the video. Remotion's AAC began
    with the encoder's 2048 samples of priming, which nothing skipped: every sound (and so every
    caption's word) came 42.7 ms after its picture."""
    import numpy as np

    from render_support import decode_audio

    at = (0.25, 0.75, 1.25)
    narration = tmp_path / "clicks.wav"
    _clicks(narration, 1.5, at)
    timeline = {"resolution": 360, "fps": 24, "durationMs": 1500, "titleMs": 0,
                "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": 1500}], "narration": str(narration)}
    result, _, _ = run_render({"timeline": timeline, **({"chunks": chunks} if chunks else {})})
    out = tmp_path / "clicks.mp4"
    store.get_to_file(result.video.key, out)
    pcm = np.abs(decode_audio(out)[:, 0].astype(np.int32))
    for t in at:
        i = int(t * 48000)
        onset = i - 4000 + int(np.nonzero(pcm[i - 4000: i + 4000] > 5000)[0][0])
        assert abs(onset - i) <= 48, f"the click at {t} s is heard {1000 * (onset - i) / 48000:+.1f} ms off"
