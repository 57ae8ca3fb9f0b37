"""A long script on a short recording that says none of it (the wrong file uploaded) is a flagged
alignment, not an internal error: every word is unmatched and there is under 1 ms of audio a word."""

import io
import subprocess

import numpy as np
import pytest

from modal_functions.align.audio import write_wav
from modal_functions.align.capability import CAPABILITY
from modal_functions.align.refine import order_within
from modal_functions.contract.align import TranscribeAudioRequest
from modal_functions.runtime.context import LocalTaskContext

from .conftest import SR


def test_order_within_with_every_word_optional_and_no_room():
    out = order_within([(0.0, 0.001)] * 10, 0.005, optional=[True] * 10)
    assert len(out) == 10
    assert all(0.0 <= s <= e <= 0.005 for s, e in out)
    assert all(a[1] <= b[0] + 1e-12 for a, b in zip(out, out[1:]))


@pytest.mark.parametrize("refine", [False, True])
def test_a_long_script_on_a_short_unrelated_recording_is_flagged(state, store, settings, tmp_path, refine):
    from faster_whisper.audio import decode_audio

    wav = subprocess.run(["espeak-ng", "--stdout", "-v", "en-us", "Testing."], capture_output=True, check=True).stdout
    said = decode_audio(io.BytesIO(wav), sampling_rate=SR)
    pad = np.zeros(SR // 4, np.float32)
    path = write_wav(tmp_path / "testing.wav", np.concatenate([pad, said, pad]))  # ~1.3 s
    script = "banana orchard " * 800  # 1,600 words: under 1 ms of audio each
    with LocalTaskContext(settings=settings, store=store, allow_local_paths=True) as ctx:
        result = CAPABILITY.run(state, TranscribeAudioRequest(audio=str(path), script=script, refine=refine), ctx)
    assert result.flagged and result.match_rate == 0.0
    assert len(result.words) == 1600
    ends = [(w.startMs, w.endMs) for w in result.words]
    assert all(s <= e <= result.duration_ms + 0.1 for s, e in ends)
    assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:]))
