"""The duration limit holds while decoding, not only after it: a file whose container does not say how
long it is (a browser's webm recording, a FLAC or webm written to a pipe) is refused as soon as more
than the limit has been decoded, not after the whole of it sits in memory."""

import subprocess
import tracemalloc

import numpy as np
import pytest

from modal_functions.align.audio import load_audio
from modal_functions.errors import CapabilityError


def _streamed_flac(path, seconds: int):
    """FLAC written to a pipe: its header cannot be rewritten, so it says nothing of the length."""
    flac = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", str(seconds),
                           "-f", "flac", "pipe:1"], capture_output=True, check=True).stdout
    path.write_bytes(flac)
    import av

    with av.open(str(path)) as c:  # the premise: nothing to check before decoding
        assert c.duration is None and c.streams.audio[0].duration is None
    return path


def test_a_file_without_a_stated_length_is_refused_without_decoding_all_of_it(tmp_path):
    path = _streamed_flac(tmp_path / "twenty-minutes.flac", 1200)  # 20 min: 77 MB as float32 samples
    tracemalloc.start()
    try:
        with pytest.raises(CapabilityError) as e:
            load_audio(path, max_seconds=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert e.value.code == "audio_too_long" and e.value.http_status == 413
    assert peak < 20_000_000, f"{peak / 1e6:.0f} MB held to refuse a file over a 5 s limit"


def test_within_the_limit_it_decodes_exactly_as_faster_whisper_does(tmp_path, gapped_clip):
    from faster_whisper.audio import decode_audio

    path = _streamed_flac(tmp_path / "short.flac", 3)
    for p in (path, gapped_clip.path):
        assert np.array_equal(load_audio(p, max_seconds=60), decode_audio(str(p), sampling_rate=16_000))
    assert load_audio(path, max_seconds=3).size == 3 * 16_000  # exactly the limit is not over it
