"""A float WAV holding NaN or infinity is corrupt audio (bad_audio), not silence: decoding converts it
to 16-bit first, where NaN and +inf both became full-scale -1.0, so the job failed as audio_silent ("no
speech found") and the check for invalid samples after decoding could never fire."""

import struct

import numpy as np
import pytest

from modal_functions.align.audio import SAMPLE_RATE, load_audio
from modal_functions.errors import CapabilityError


def _float_wav(path, samples: np.ndarray, dtype: str = "<f4"):
    """An IEEE-float PCM WAV (format tag 3) of `samples`, mono, written byte for byte."""
    data = samples.astype(dtype).tobytes()
    width = np.dtype(dtype).itemsize
    fmt = struct.pack("<HHIIHH", 3, 1, SAMPLE_RATE, SAMPLE_RATE * width, width, 8 * width)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return 0.5 * np.sin(2 * np.pi * 220 * t)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
def test_nan_or_infinity_is_bad_audio(tmp_path, bad, dtype):
    audio = _tone(3.0)
    audio[SAMPLE_RATE : SAMPLE_RATE + 100] = bad  # a burst in the middle of good audio
    path = _float_wav(tmp_path / "corrupt.wav", audio, dtype)
    with pytest.raises(CapabilityError) as e:
        load_audio(path, max_seconds=60)
    assert e.value.code == "bad_audio" and e.value.http_status == 422


def test_all_nan_is_bad_audio_not_silence(tmp_path):
    path = _float_wav(tmp_path / "nan.wav", np.full(3 * SAMPLE_RATE, np.nan))
    with pytest.raises(CapabilityError) as e:
        load_audio(path, max_seconds=60)
    assert e.value.code == "bad_audio"


def test_a_good_float_wav_still_decodes(tmp_path):
    audio = _tone(3.0)
    out = load_audio(_float_wav(tmp_path / "good.wav", audio), max_seconds=60)
    assert out.size == audio.size and np.max(np.abs(out - audio)) < 1e-3
