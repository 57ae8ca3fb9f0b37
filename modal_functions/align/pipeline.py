"""The alignment pipeline as one plain function: samples (+ script) in, timed caption words out.

recognise (Whisper, either engine) -> choose the words (the script's, aligned by
sequence alignment, or the recognised ones) -> refine their boundaries against the
signal -> Remotion `Caption`s. The capability, the CLI and the bench all call
`align()`; only the capability adds storage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..contract.align import Caption, Segment
from ..logs import get_logger
from .audio import region_seconds, speech_clips, speech_regions
from .captions import cues
from .engines import DecodeOptions, Engine, Recognition, load_engine
from .refine import ForcedAligner, RefineStats, order_within, refine
from .script_align import align_script, regroup, script_words
from .wordkeys import spaces

SR = 16_000
Progress = Callable[[float, str], None]
"""(fraction 0..1, stage message)."""


@dataclass
class AlignerState:
    """Heavy state of a warm worker: engines by (name, model), and the forced aligner."""

    engines: dict[tuple[str, str], Engine] = field(default_factory=dict)
    aligner: ForcedAligner | None = None
    aligner_missing: bool = False
    load_seconds: dict[str, float] = field(default_factory=dict)

    def engine(self, name: str, model: str) -> Engine:
        key = (name, model)
        if key not in self.engines:
            t0 = time.perf_counter()
            self.engines[key] = load_engine(name, model)
            self.load_seconds[f"{name}:{model}"] = time.perf_counter() - t0
        return self.engines[key]

    def forced_aligner(self) -> ForcedAligner | None:
        """None where pocketsphinx is not installed: refinement then trims Whisper's times by energy only."""
        if self.aligner is None and not self.aligner_missing:
            t0 = time.perf_counter()
            try:
                self.aligner = ForcedAligner()
            except ImportError as e:
                self.aligner_missing = True
                get_logger(__name__).warning("forced aligner unavailable; energy-only refinement", extra={"error": str(e)})
            self.load_seconds["forced-aligner"] = time.perf_counter() - t0
        return self.aligner


@dataclass
class Alignment:
    words: list[Caption]
    segments: list[Segment]
    text: str
    language: str
    recognition: Recognition
    match_rate: float | None = None
    flagged: bool = False
    refine_stats: RefineStats | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def audio_ms(samples: int) -> float:
    """The audio's length in ms, rounded as `to_captions` rounds word times: a last word clamped
    to the audio's end then never ends after it (`samples / 16` rounded otherwise: 16004 samples
    gave 1000.2 ms against a word end of 1000.3, and the renderer refused the timeline)."""
    return round(samples / SR * 1000, 1)


def to_captions(items: list[tuple[str, float, float, float]], spaced: list[bool] | None = None) -> list[Caption]:
    """(text, start s, end s, confidence) -> Remotion Captions: ms, words after the first prefixed by a space
    (as Whisper tokens are, which @remotion/captions' createTikTokStyleCaptions relies on), except where
    `spaced` (the script's or Whisper's spacing) has none between Chinese or Japanese characters."""
    texts = [text for text, *_ in items]
    space = spaces(texts, spaced if spaced is not None else [True] * len(items))
    out = []
    for i, (text, s, e, conf) in enumerate(items):
        start, end = round(s * 1000, 1), round(max(e, s) * 1000, 1)
        out.append(Caption(text=(" " if space[i] else "") + text.strip(), startMs=start, endMs=end,
                           timestampMs=round((start + end) / 2, 1), confidence=round(float(conf), 3)))
    return out


def align(
    state: AlignerState,
    audio: np.ndarray,
    *,
    engine: str = "faster-whisper",
    model: str = "tiny.en",
    language: str = "en",
    script: str | None = None,
    refine_boundaries: bool = True,
    on_progress: Progress | None = None,
    recognition: Recognition | None = None,
    speech: list[dict] | None = None,
) -> Alignment:
    """`recognition` may be passed in to re-use one Whisper pass (the bench compares configurations);
    `speech` are VAD regions already computed (`audio.speech_regions`)."""
    duration = audio.size / SR
    report = on_progress or (lambda f, m: None)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if speech is None:
        speech = speech_regions(audio)  # once, for the recogniser's clips, the script's gaps and refinement
    if recognition is None:
        eng = state.engine(engine, model)
        # Both engines decode the same clips (long silences cut out), so they still decode identically.
        options = DecodeOptions(language=language, clips=speech_clips(speech, duration))
        recognition = eng.transcribe(audio, options,
                                     on_progress=lambda t: report(0.75 * min(1.0, t / max(duration, 1e-6)), "recognising"))
    seconds["recognise"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    match_rate, flagged = None, False
    optional = None
    if script and script_words(script):  # a script of only punctuation counts as none
        sa = align_script(script, recognition.words, duration, speech=region_seconds(speech))
        items = [(w.text, w.start, w.end, w.confidence) for w in sa.words]
        spaced = [w.spaced for w in sa.words]
        optional = [not w.matched for w in sa.words]
        match_rate, flagged = round(sa.match_rate, 4), sa.flagged
        text = None  # the script's words as the captions space them, below
    else:
        heard = regroup(recognition.words)  # Thai, Lao, Burmese, Khmer: dictionary words, not Whisper's tokens
        items = [(w.text, w.start, w.end, w.probability) for w in heard]
        spaced = [w.spaced for w in heard]
        text = recognition.text
    seconds["script"] = time.perf_counter() - t1

    stats = None
    if refine_boundaries and items:
        t2 = time.perf_counter()
        stats = RefineStats()
        aligner = state.forced_aligner() if language.startswith("en") else None
        new = refine(audio, [(t, s, e) for t, s, e, _ in items], aligner, stats=stats, regions=speech, optional=optional,
                     on_progress=lambda t: report(0.75 + 0.2 * min(1.0, t / max(duration, 1e-6)), "refining boundaries"))
        items = [(t, s, e, c) for (t, _, _, c), (s, e) in zip(items, new)]
        seconds["refine"] = time.perf_counter() - t2
    else:
        ordered = order_within([(s, e) for _, s, e, _ in items], duration, optional=optional)
        items = [(t, s, e, c) for (t, _, _, c), (s, e) in zip(items, ordered)]

    words = to_captions(items, spaced)
    if text is None:
        text = "".join(c.text for c in words)
    segments = [Segment(text=c.text, startMs=round(c.start * 1000, 1), endMs=round(c.end * 1000, 1))
                for c in cues(words, max_words=24, max_chars=160, pause_s=1.0)]
    report(0.97, "aligned")
    return Alignment(words, segments, text, recognition.language or language, recognition,
                     match_rate, flagged, stats, seconds)
