"""Audio exactly as long as the limit is accepted, whatever the codec: an Opus file's header counts
its 312-sample pre-skip, and AAC decodes to a few ms of encoder padding past the end, so a 10 s
narration in .ogg or .m4a was refused under a 10 s limit with "audio is 10 s; the limit is 10 s"."""

import subprocess

import pytest

from modal_functions.align.audio import SAMPLE_RATE, load_audio
from modal_functions.errors import CapabilityError


def _tone(path, seconds: float):
    codec = {".ogg": ["-c:a", "libopus"], ".m4a": ["-c:a", "aac"], ".mp3": [], ".wav": []}[path.suffix]
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=44100:duration={seconds}",
                    *codec, str(path)], check=True)
    return path


@pytest.mark.parametrize("name", ["exact.ogg", "exact.m4a", "exact.mp3", "exact.wav"])
def test_audio_exactly_at_the_limit_is_accepted(tmp_path, name):
    audio = load_audio(_tone(tmp_path / name, 10), max_seconds=10)
    assert abs(audio.size / SAMPLE_RATE - 10) < 0.05


@pytest.mark.parametrize("name", ["over.ogg", "over.m4a"])
def test_audio_over_the_limit_is_refused_with_its_length(tmp_path, name):
    with pytest.raises(CapabilityError) as e:
        load_audio(_tone(tmp_path / name, 10.5), max_seconds=10)
    assert e.value.code == "audio_too_long" and e.value.http_status == 413
    assert "10.5 s" in e.value.message and "limit is 10 s" in e.value.message
