"""The alignment bench's ground truth: clips whose word times are known exactly, because we built them.

Word clips: every word synthesised on its own by espeak-ng (libespeak-ng via ctypes),
trimmed to its sound, then joined. A word starts at its first kept sample and ends at
its last, so the truth is exact. "gapped" clips put a random pause at every join;
"joined" clips butt most words together with no gap at all (a pause every few words
so it still sounds like speech). Voices and speeds vary per clip; half the clips carry
a white-noise floor at -45 dBFS.

Continuous clips: whole sentences synthesised in one go, so words run together the way
a TTS narration does. Each word's start is libespeak-ng's own WORD event; its end is
the last voiced frame before the next word (or the end of the sound).

Everything is seeded and cached (`build(cache_dir, seed)`), 16 kHz mono WAV + truth.json.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from modal_functions.align.audio import trim_silence, write_wav

SR = 16_000
NOISE_DBFS = -45.0
SPEECH_RMS_DBFS = -20.0
TRIM_DBFS = -50.0
VERSION = 4

SENTENCES = [
    "Every morning the small team checks the weather before they start the boat.",
    "She opened the window and listened to the rain falling on the garden.",
    "Our new video explains how solar panels turn light into power for the house.",
    "The market was full of people buying fresh bread, apples and warm coffee.",
    "After lunch we walked along the river and counted seven boats near the bridge.",
    "Good captions help viewers follow the story even when the sound is turned off.",
    "The old library keeps maps of the city that are more than two hundred years old.",
    "He packed a light jacket, a bottle of water and a book for the long train ride.",
    "Scientists measured the height of the waves during the storm last winter.",
    "When the music stopped, the children ran outside to play in the snow.",
    "Please remember to save your work before you close the program.",
    "The farmer planted corn in the spring and sold most of it in the autumn.",
    "A quiet room with good light is the best place to record your voice.",
    "The museum opens at nine and the tickets are cheaper for students.",
    "Our teacher asked us to write a short story about a journey by sea.",
    "The bakery on the corner sells the best chocolate cake in town.",
    "Strong winds closed the mountain road for most of the weekend.",
    "My brother fixed the bicycle and painted it bright green.",
    "The doctor said that a short walk every day keeps the heart healthy.",
    "They built a small wooden cabin near the lake and lived there all summer.",
    "Clear pictures and simple words make a lesson easy to remember.",
    "The pilot told the passengers that the flight would land early.",
    "We cooked rice with fresh vegetables and shared it with our neighbours.",
    "The little dog waited by the door until its owner came home.",
]

VOICES = ["en-us", "en", "en-gb-x-rp", "en+f3", "en-us+m3", "en+f2", "en-gb-scotland", "en-us+f4"]


@dataclass
class TruthWord:
    word: str
    start: float
    end: float


@dataclass
class Clip:
    name: str
    kind: str  # "gapped" | "joined" | "continuous"
    noisy: bool
    voice: str
    rate: int
    path: str
    words: list[TruthWord]
    zero_gap_joins: int = 0
    joins: int = 0

    @property
    def script(self) -> str:
        return " ".join(w.word for w in self.words)

    @property
    def subsets(self) -> list[str]:
        return [self.kind] + (["noisy"] if self.noisy else [])


def _resample(audio: np.ndarray, sr: int) -> np.ndarray:
    """To 16 kHz with PyAV's (libswresample) filter."""
    import av

    if sr == SR:
        return audio.astype(np.float32)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
    frame = av.AudioFrame.from_ndarray(audio.astype(np.float32)[None, :], format="flt", layout="mono")
    frame.sample_rate = sr
    out = [f.to_ndarray()[0] for f in resampler.resample(frame)]
    out += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32)


def _level(audio: np.ndarray, rng: np.random.Generator, noisy: bool) -> np.ndarray:
    rms = float(np.sqrt(np.mean(audio**2))) or 1.0
    audio = audio * (10 ** (SPEECH_RMS_DBFS / 20) / rms)
    if noisy:
        audio = audio + rng.normal(0.0, 10 ** (NOISE_DBFS / 20), audio.size).astype(np.float32)
    return audio.astype(np.float32)


def _word_clip(espeak, sentences: list[str], kind: str, voice: str, rate: int, rng: random.Random) -> tuple[np.ndarray, list[TruthWord], int, int]:
    parts: list[np.ndarray] = [np.zeros(int(0.4 * SR), np.float32)]
    t = 0.4
    truth: list[TruthWord] = []
    zero = joins = 0
    words = [w for s in sentences for w in s.split()]
    for i, word in enumerate(words):
        raw, sr = espeak.synth(word.strip(".,;:!?"), voice=voice, rate=rate)[0], espeak.sample_rate
        audio = trim_silence(_resample(raw, sr), TRIM_DBFS)
        if i:
            joins += 1
            sentence_end = words[i - 1].endswith((".", ","))
            if kind == "joined" and not sentence_end and rng.random() < 0.88:
                gap = 0.0
            else:
                gap = rng.uniform(0.08, 0.6)
            zero += gap == 0.0
            n = int(round(gap * SR))
            parts.append(np.zeros(n, np.float32))
            t += n / SR
        truth.append(TruthWord(word, round(t, 4), round(t + audio.size / SR, 4)))
        parts.append(audio)
        t += audio.size / SR
    parts.append(np.zeros(int(0.5 * SR), np.float32))
    return np.concatenate(parts), truth, zero, joins


def _continuous_clip(espeak, sentences: list[str], voice: str, rate: int) -> tuple[np.ndarray, list[TruthWord]]:
    text = " ".join(sentences)
    raw, events = espeak.synth(text, voice=voice, rate=rate)
    audio = _resample(raw, espeak.sample_rate)
    lead = 0.4
    audio = np.concatenate([np.zeros(int(lead * SR), np.float32), audio, np.zeros(int(0.5 * SR), np.float32)])
    # Voiced frames (5 ms) decide where each word's sound stops before the next begins.
    hop = 80
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    voiced = np.sqrt((frames**2).mean(1)) > 10 ** (TRIM_DBFS / 20)
    truth: list[TruthWord] = []
    for k, ev in enumerate(events):
        word = text[ev.text_position - 1 : ev.text_position - 1 + ev.length]
        start = lead + ev.start_s
        nxt = lead + events[k + 1].start_s if k + 1 < len(events) else len(audio) / SR
        a, b = int(start * SR) // hop, int(nxt * SR) // hop
        on = np.nonzero(voiced[a:b])[0]
        end = (a + on[-1] + 1) * hop / SR if on.size else nxt
        truth.append(TruthWord(word, round(start, 4), round(end, 4)))
    return audio, truth


def build(cache_dir: Path, seed: int = 7, n_word_clips: int = 16, n_continuous: int = 6, sentences_per_clip: int = 3) -> list[Clip]:
    """Build (or load from cache) the bench set. Same seed, same clips."""
    key = hashlib.sha256(f"{VERSION}:{seed}:{n_word_clips}:{n_continuous}:{sentences_per_clip}".encode()).hexdigest()[:12]
    root = Path(cache_dir) / f"align-set-{key}"
    manifest = root / "truth.json"
    if manifest.exists():
        return [Clip(**{**c, "words": [TruthWord(**w) for w in c["words"]]}) for c in json.loads(manifest.read_text())]

    from espeak_events import Espeak  # bench-local module

    espeak = Espeak()
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []
    specs = [("gapped" if i % 2 == 0 else "joined", (i // 2) % 2 == 1) for i in range(n_word_clips)]
    specs += [("continuous", i % 2 == 1) for i in range(n_continuous)]
    for i, (kind, noisy) in enumerate(specs):
        voice = VOICES[i % len(VOICES)]
        rate = rng.choice([140, 155, 170, 185, 200])
        # Continuous speech has no inserted gaps: twice the sentences give clips of similar
        # length (~25 s), so every subset's RTF pays the same share of Whisper's 30 s window.
        sentences = rng.sample(SENTENCES, sentences_per_clip * (2 if kind == "continuous" else 1))
        if kind == "continuous":
            audio, truth = _continuous_clip(espeak, sentences, voice, rate)
            zero = joins = 0
        else:
            audio, truth, zero, joins = _word_clip(espeak, sentences, kind, voice, rate, rng)
        audio = _level(audio, nrng, noisy)
        name = f"{i:02d}-{kind}{'-noisy' if noisy else ''}"
        path = root / f"{name}.wav"
        write_wav(path, audio)
        clips.append(Clip(name, kind, noisy, voice, rate, str(path), truth, zero, joins))
    manifest.write_text(json.dumps([{**asdict(c)} for c in clips], indent=1))
    return clips
