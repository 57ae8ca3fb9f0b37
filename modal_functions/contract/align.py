"""transcribe_audio: audio (+ the narration script) in, word timings in Remotion's Caption shape out."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .jobs import ArtifactRef, Strict

Engine = Literal["faster-whisper", "openai-whisper"]


class Caption(Strict):
    """Remotion's `Caption` (@remotion/captions): times in milliseconds.

    Words after the first carry a leading space, as Whisper tokens do, so
    `createTikTokStyleCaptions` joins them without conversion. `timestampMs` is the
    word's midpoint; `confidence` is the recogniser's word probability, or 0.1 for a
    script word whose timing was interpolated.
    """

    text: str
    startMs: float
    endMs: float
    timestampMs: float | None = None
    confidence: float | None = None


class TranscribeAudioRequest(Strict):
    audio: str = Field(min_length=1, max_length=4096, description="Artifact key, signed URL or safe https URL.")
    script: str | None = Field(default=None, max_length=100_000)
    language: str = Field(default="en", min_length=2, max_length=16,
                          description="Whisper language code ('en', 'de', 'zh', 'yue', ...). Any case; a BCP 47 tag "
                                      "such as 'en-US' or 'pt_BR' is read as its language.")
    engine: Engine = Field(default="faster-whisper", description="Kept as given: a router never changes engine or model.")
    model: str = Field(default="tiny.en", min_length=1, max_length=100)
    refine: bool = Field(default=True, description="Refine word boundaries against the signal (forced alignment + energy).")

    @field_validator("language")
    @classmethod
    def _primary_language(cls, value: str) -> str:
        """"EN", "en-US", "en_GB" -> "en": the language a tag names, as Whisper's codes are written."""
        return value.strip().replace("_", "-").split("-")[0].lower()


class Segment(Strict):
    text: str
    startMs: float
    endMs: float


class TranscribeAudioResult(Strict):
    text: str
    language: str
    duration_ms: float
    engine: Engine
    model: str
    segments: list[Segment]
    words: list[Caption]
    srt: ArtifactRef | None = None
    vtt: ArtifactRef | None = None
    match_rate: float | None = Field(default=None, description="Share of script words matched to recognised words.")
    flagged: bool = Field(default=False, description="Low match rate: timings are mostly interpolated.")
