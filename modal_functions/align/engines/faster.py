"""faster-whisper (CTranslate2): the default engine. int8 on CPU, float16 on GPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import DecodeOptions, OnProgress, Recognition, Segment, Word


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, model_dir: Path, model: str = "tiny.en", device: str = "cpu", compute_type: str | None = None, cpu_threads: int | None = None):
        from faster_whisper import WhisperModel

        self.model = model
        self.compute_type = compute_type or ("int8" if device == "cpu" else "float16")
        self._whisper = WhisperModel(
            str(model_dir), device=device, compute_type=self.compute_type,
            cpu_threads=cpu_threads or os.cpu_count() or 1, local_files_only=True,
        )

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, on_progress: OnProgress | None = None) -> Recognition:
        segments_iter, info = self._whisper.transcribe(
            audio, language=options.language, beam_size=options.beam_size, best_of=1,
            temperature=0.0, word_timestamps=options.word_timestamps, vad_filter=False,
            clip_timestamps=list(options.clips) if options.clips else "0",
        )
        segments: list[Segment] = []
        words: list[Word] = []
        for seg in segments_iter:  # lazy: each iteration decodes one more segment
            segments.append(Segment(seg.text, seg.start, seg.end, list(seg.tokens)))
            words += [Word(w.word.strip(), w.start, w.end, w.probability, spaced=w.word[:1].isspace())
                      for w in seg.words or [] if w.word.strip()]
            if on_progress:
                on_progress(seg.end)
        return Recognition(segments, words, info.language)
