"""Shared fixtures for the alignment tests: real tiny.en weights, loaded once per session,
and short espeak-ng clips built here (seeded) with exact word times.

A word clip is every word synthesised on its own, trimmed to its sound and joined with
a known gap (0 for "joined"), so each word's true start and end are known to the sample.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from modal_functions.align.audio import trim_silence, write_wav

SR = 16_000
SENTENCE = "Our new video explains how solar panels turn light into power for the house."


@dataclass
class Clip:
    path: Path
    script: str
    words: list[tuple[str, float, float]]  # (word as in the script, start s, end s)


def _espeak(text: str, voice: str, rate: int) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    wav = subprocess.run(["espeak-ng", "--stdout", "-v", voice, "-s", str(rate), text], capture_output=True, check=True).stdout
    return decode_audio(io.BytesIO(wav), sampling_rate=SR)


def word_clip(path: Path, sentence: str, *, gaps: str, seed: int, voice: str = "en-us", rate: int = 165,
              said: dict[str, str] | None = None) -> Clip:
    """`said`: what to synthesise for a word espeak-ng misreads ("$5" is "dollar five" to it; speakers say "five dollars")."""
    rng = random.Random(seed)
    parts = [np.zeros(int(0.3 * SR), np.float32)]
    t = 0.3
    truth = []
    for i, word in enumerate(sentence.split()):
        audio = trim_silence(_espeak((said or {}).get(word.strip(".,"), word.strip(".,")), voice, rate))
        if i:
            gap = 0.0 if gaps == "joined" else rng.uniform(0.25, 0.6)
            parts.append(np.zeros(int(round(gap * SR)), np.float32))
            t += int(round(gap * SR)) / SR
        truth.append((word, t, t + audio.size / SR))
        parts.append(audio)
        t += audio.size / SR
    parts.append(np.zeros(int(0.4 * SR), np.float32))
    audio = np.concatenate(parts)
    audio = audio * (0.1 / float(np.sqrt(np.mean(audio**2))))  # -20 dBFS speech
    return Clip(write_wav(path, audio), sentence, truth)


@pytest.fixture(scope="session", autouse=True)
def _needs_espeak():
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required (make system installs it)")


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("align-clips")


@pytest.fixture(scope="session")
def gapped_clip(clip_dir) -> Clip:
    return word_clip(clip_dir / "gapped.wav", SENTENCE, gaps="gapped", seed=11)


@pytest.fixture(scope="session")
def joined_clip(clip_dir) -> Clip:
    return word_clip(clip_dir / "joined.wav", "She opened the window and listened to the rain.", gaps="joined", seed=12, voice="en+f3", rate=180)


@pytest.fixture(scope="session")
def sentence_clip(clip_dir) -> Clip:
    """Continuous speech (one espeak-ng call); word times unknown, used where only text matters."""
    text = "Good captions help viewers follow the story even when the sound is turned off."
    audio = np.concatenate([np.zeros(int(0.3 * SR), np.float32), _espeak(text, "en-gb-x-rp", 160), np.zeros(int(0.3 * SR), np.float32)])
    return Clip(write_wav(clip_dir / "sentence.wav", audio), text, [])


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("align-data")


@pytest.fixture(scope="session")
def state(data_dir):
    """The warm worker's state, exactly as the pool (or @modal.enter) builds it: loaded once."""
    from modal_functions.align.capability import load

    return load()


@pytest.fixture(scope="session")
def settings(data_dir):
    from modal_functions.settings import Settings

    return Settings(_env_file=None, CANVASCAST_DATA_DIR=str(data_dir))


@pytest.fixture(scope="session")
def store(settings):
    from modal_functions.storage import get_store

    return get_store(settings)


@pytest.fixture(scope="session")
def openai_engine(data_dir):
    from modal_functions.align.engines import load_engine

    return load_engine("openai-whisper", "tiny.en", data_dir=data_dir)


@pytest.fixture(scope="session")
def fw32_engine(data_dir):
    from modal_functions.align.engines import load_engine

    return load_engine("faster-whisper", "tiny.en", data_dir=data_dir, compute_type="float32")
