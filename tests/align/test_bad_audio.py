"""Bad audio gets a clear code and a 4xx, never a crash: empty, corrupt, not audio, silence, too long."""

import numpy as np
import pytest

from modal_functions.align.capability import CAPABILITY
from modal_functions.contract.align import TranscribeAudioRequest
from modal_functions.errors import CapabilityError
from modal_functions.runtime.context import LocalTaskContext

from .conftest import SR, write_wav


def code_for(state, store, settings, path) -> CapabilityError:
    with LocalTaskContext(settings=settings, store=store, allow_local_paths=True) as ctx:
        with pytest.raises(CapabilityError) as e:
            CAPABILITY.run(state, TranscribeAudioRequest(audio=str(path)), ctx)
    assert 400 <= e.value.http_status < 500
    return e.value


@pytest.mark.parametrize("name,content,code", [
    ("empty.wav", b"", "bad_audio"),
    ("notaudio.wav", b"this is a narration script, not a recording\n" * 20, "bad_audio"),
    ("image.mp3", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "bad_audio"),
])
def test_unreadable_files(state, store, settings, tmp_path, name, content, code):
    path = tmp_path / name
    path.write_bytes(content)
    assert code_for(state, store, settings, path).code == code


def test_corrupt_wav(state, store, settings, tmp_path, gapped_clip):
    data = gapped_clip.path.read_bytes()
    path = tmp_path / "corrupt.wav"
    path.write_bytes(data[:20] + bytes(reversed(data[20:200])))  # header cut mid-way
    assert code_for(state, store, settings, path).code == "bad_audio"


def test_all_silence(state, store, settings, tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros(3 * SR, np.float32))
    assert code_for(state, store, settings, path).code == "audio_silent"


def test_noise_without_speech(state, store, settings, tmp_path):
    noise = np.random.default_rng(3).normal(0, 10 ** (-45 / 20), 3 * SR).astype(np.float32)
    path = write_wav(tmp_path / "noise.wav", noise)
    assert code_for(state, store, settings, path).code == "audio_silent"


def test_over_the_duration_limit(state, store, settings, monkeypatch, gapped_clip):
    monkeypatch.setenv("ALIGN_MAX_AUDIO_SECONDS", "2")
    err = code_for(state, store, settings, gapped_clip.path)
    assert err.code == "audio_too_long" and err.http_status == 413


def test_a_bad_duration_limit_setting_falls_back_to_the_default(monkeypatch):
    from modal_functions.align.audio import DEFAULT_MAX_SECONDS, max_audio_seconds

    for bad in ("abc", "-5", "0", "inf", "nan"):
        monkeypatch.setenv("ALIGN_MAX_AUDIO_SECONDS", bad)
        assert max_audio_seconds() == DEFAULT_MAX_SECONDS
    monkeypatch.setenv("ALIGN_MAX_AUDIO_SECONDS", "90")
    assert max_audio_seconds() == 90.0
