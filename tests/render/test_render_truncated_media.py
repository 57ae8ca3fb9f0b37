"""Audio and animated images cut short (an interrupted upload) are a bad_asset before rendering.

Staging checked that an audio file has an audio stream, and that the first frame of an
image decodes. A narration missing its second half (its header still saying how long it
is) rendered: the video went silent halfway and the job "succeeded"; music cut short
looped its first half. An animated GIF missing its last frames passed the same way.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from modal_functions.contract.render import Timeline
from modal_functions.errors import CapabilityError
from modal_functions.render.assets import stage_assets
from modal_functions.runtime.context import LocalTaskContext

# (ffmpeg output options, extension): each a container with its length in its header
AUDIO = {
    "wav": (["-c:a", "pcm_s16le"], "wav"),
    "mp3": (["-c:a", "libmp3lame", "-b:a", "96k"], "mp3"),
    "flac": (["-c:a", "flac"], "flac"),
    "m4a": (["-c:a", "aac", "-movflags", "+faststart"], "m4a"),
    "webm": (["-c:a", "libopus"], "webm"),
    "adpcm-wav": (["-c:a", "adpcm_ms"], "wav"),  # not played as it is: converted to PCM WAV
}


@pytest.fixture(scope="module")
def tone(tmp_path_factory):
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(path), "synth", "6", "sine", "330", "sine", "440", "vol", "0.5"], check=True)
    return path


def _encode(tone, folder, name: str):
    options, ext = AUDIO[name]
    out = folder / f"{name}.{ext}"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(tone), *options, str(out)], check=True)
    return out


def _stage(tmp_path, image, **audio):
    t = Timeline.model_validate({"durationMs": 1000, "scenes": [{"image": str(image), "startMs": 0, "endMs": 1000}],
                                 **{k: str(v) for k, v in audio.items()}})
    with LocalTaskContext(job_id="truncated", allow_local_paths=True) as ctx:
        return stage_assets(t, ctx.fetch_input, tmp_path / "serve", "http://127.0.0.1:1")


@pytest.fixture
def still(tmp_path):
    from PIL import Image

    path = tmp_path / "still.png"
    Image.new("RGB", (64, 36), (200, 30, 30)).save(path)
    return path


def _cut(path, fraction: float):
    data = path.read_bytes()
    cut = path.with_name("cut-" + path.name)
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


@pytest.mark.parametrize("name", sorted(AUDIO))
@pytest.mark.parametrize("use", ["narration", "music"])
def test_audio_cut_in_half_is_a_bad_asset(tmp_path, tone, still, name, use):
    cut = _cut(_encode(tone, tmp_path, name), 0.5)
    with pytest.raises(CapabilityError) as e:
        _stage(tmp_path, still, **{use: cut})
    assert e.value.code == "bad_asset" and e.value.http_status == 422, e.value.message
    assert e.value.message.startswith(use) and "truncated" in e.value.message
    assert not any((tmp_path / "serve").iterdir()), "staged assets must be removed on failure"


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_whole_audio_is_staged(tmp_path, tone, still, name):
    staged = _stage(tmp_path, still, narration=_encode(tone, tmp_path, name))
    staged.cleanup()


def test_a_vbr_mp3_without_a_length_header_is_not_taken_for_a_truncated_one(tmp_path, tone, still):
    """Without a Xing header an MP3's length is an estimate from its first frame's bitrate:
    for a VBR file it is wrong, and says nothing about truncation."""
    mp3 = tmp_path / "vbr.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(tone), "-c:a", "libmp3lame", "-q:a", "2",
                    "-write_xing", "0", str(mp3)], check=True)
    _stage(tmp_path, still, narration=mp3).cleanup()


def _animation(tmp_path, fmt: str):
    from PIL import Image

    rng = np.random.default_rng(7)
    frames = [Image.fromarray(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)) for _ in range(6)]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


@pytest.mark.parametrize("fraction", [0.5, 0.8, 0.95])
def test_an_animated_gif_missing_its_last_frames_is_a_bad_asset(tmp_path, fraction):
    cut = _cut(_animation(tmp_path, "GIF"), fraction)
    with pytest.raises(CapabilityError) as e:
        _stage(tmp_path, cut)
    assert e.value.code == "bad_asset" and e.value.http_status == 422
    assert "scenes[0]" in e.value.message


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_a_whole_animation_is_staged_byte_for_byte(tmp_path, fmt):
    src = _animation(tmp_path, fmt)
    data = src.read_bytes()
    staged = _stage(tmp_path, src)
    try:
        (url,) = staged.urls.values()
        assert (staged.folder / url.rsplit("/", 1)[1]).read_bytes() == data
    finally:
        staged.cleanup()
