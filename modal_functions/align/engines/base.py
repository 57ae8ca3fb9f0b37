"""What every speech engine gives back, whichever library ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

OnProgress = Callable[[float], None]
"""Called with seconds of audio done so far; also the engine's heartbeat."""


@dataclass
class Word:
    text: str  # as recognised, without the leading space Whisper puts on tokens
    start: float  # seconds
    end: float
    probability: float = 1.0
    spaced: bool = True  # Whisper wrote a space before it (not so between the characters of Chinese or Japanese)


@dataclass
class Segment:
    text: str
    start: float
    end: float
    tokens: list[int] = field(default_factory=list)


@dataclass
class Recognition:
    segments: list[Segment]
    words: list[Word]
    language: str

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()

    @property
    def tokens(self) -> list[int]:
        """Text tokens only (timestamp tokens dropped), for engine-to-engine comparison."""
        return [t for s in self.segments for t in s.tokens if t < 50257]


@dataclass(frozen=True)
class DecodeOptions:
    """Beam search of width 5 by default: the decoding both libraries ship as their standard
    (faster-whisper's `beam_size=5`, the `whisper` CLI's `--beam_size 5`), deterministic at
    temperature 0 and the same on both engines. On the 22 bench clips it recognises better than
    greedy (faster-whisper tiny.en WER 14.3% against 16.3%; refined word starts 23 ms off against
    26-29) for about 1.4x the decoding time, which the RTF budget holds. `GREEDY` is for the
    conversion proof: greedy decoding is what gives token-identical output on both engines."""

    language: str = "en"
    beam_size: int = 5
    word_timestamps: bool = True
    clips: tuple[float, ...] = ()
    """Whisper's `clip_timestamps` (start, end, ... seconds; an odd count runs the last to the end):
    only these stretches are decoded (`audio.speech_clips`, from the VAD). () decodes everything."""


GREEDY = 1
"""`DecodeOptions(beam_size=GREEDY)`: one hypothesis, the argmax token at every step."""


class Engine(Protocol):
    name: str
    model: str

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, on_progress: OnProgress | None = None) -> Recognition: ...
