"""The length limit reads the audio's length, not the video's: a WebM or Matroska file states no
length per stream, only the whole file's, and a video with a short narration track (3 s of audio,
20 s of picture) was refused as audio_too_long under a 10 s limit."""

import subprocess

import pytest

from modal_functions.align.audio import SAMPLE_RATE, load_audio
from modal_functions.errors import CapabilityError


def _video_with_audio(path, audio_s: int, video_s: int):
    codecs = ["-c:a", "libopus", "-c:v", "libvpx"] if path.suffix == ".webm" else ["-c:a", "flac", "-c:v", "mpeg4"]
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={audio_s}",
                    "-f", "lavfi", "-i", f"color=c=black:s=16x16:r=5:d={video_s}", "-map", "0", "-map", "1", *codecs,
                    str(path)], check=True)
    import av

    with av.open(str(path)) as c:  # the premise: only the whole file's length is in the header
        assert c.streams.audio[0].duration is None and c.duration / 1e6 > video_s - 1
    return path


@pytest.mark.parametrize("name", ["narrated.webm", "narrated.mkv"])
def test_a_long_video_with_short_audio_is_not_too_long(tmp_path, name):
    path = _video_with_audio(tmp_path / name, audio_s=3, video_s=20)
    audio = load_audio(path, max_seconds=10)
    assert abs(audio.size / SAMPLE_RATE - 3.0) < 0.1


def test_long_audio_beside_video_is_still_refused(tmp_path):
    path = _video_with_audio(tmp_path / "long.webm", audio_s=12, video_s=20)
    with pytest.raises(CapabilityError) as e:
        load_audio(path, max_seconds=10)
    assert e.value.code == "audio_too_long" and e.value.http_status == 413
