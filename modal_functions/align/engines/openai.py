"""openai-whisper (PyTorch) on the weights converted from the CTranslate2 model: the engine the product names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DecodeOptions, OnProgress, Recognition, Segment, Word


class OpenAIWhisperEngine:
    name = "openai-whisper"

    def __init__(self, checkpoint: Path, model: str = "tiny.en", device: str = "cpu"):
        from ..convert import load_openai_model

        self.model = model
        self.device = device
        self._whisper = load_openai_model(checkpoint, device=device)

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, on_progress: OnProgress | None = None) -> Recognition:
        result = self._whisper.transcribe(
            audio, language=options.language, beam_size=None if options.beam_size <= 1 else options.beam_size,
            best_of=None, temperature=0.0, word_timestamps=options.word_timestamps,
            fp16=self.device != "cpu", verbose=None,
            clip_timestamps=list(options.clips) if options.clips else "0",
        )
        segments: list[Segment] = []
        words: list[Word] = []
        for seg in result["segments"]:
            segments.append(Segment(seg["text"], seg["start"], seg["end"], list(seg["tokens"])))
            words += [Word(w["word"].strip(), w["start"], w["end"], w["probability"], spaced=w["word"][:1].isspace())
                      for w in seg.get("words", []) if w["word"].strip()]
        if on_progress:
            on_progress(audio.size / 16_000)
        return Recognition(segments, words, result.get("language") or options.language)
