"""Boundary refinement: word times re-measured against the signal, not taken from Whisper's attention.

Whisper's word timings come from cross-attention at 20 ms steps and are loose: a word's
end runs on through the following silence and starts drift by a syllable. Two passes
fix that:

1. Forced alignment (pocketsphinx, CMUdict + its en-us acoustic model, 10 ms frames).
   Given the words and the audio, it finds where each word's phones are. It works where
   words run together with no pause, which an energy threshold cannot. The audio is cut
   at the silences the VAD finds (so a mistake stays local) and each stretch is aligned
   with the words Whisper placed in it. A stretch the aligner cannot fit keeps Whisper's
   timings.
2. Energy trimming. No word ends inside silence and none starts before its sound: an end
   below the speech threshold moves back to the last voiced frame, a start forward to
   the first one.

`refine()` returns new (start, end) pairs in seconds, in the order given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .pronounce import dict_keys, espeak_phones

SR = 16_000
HOP = 160  # 10 ms frames
_PAD_S = 0.3  # silence the aligner gets around each stretch
_MIN_WORD_S = 0.03
_FLOOR_DBFS = -66.0
_CHUNK_S = 20.0  # audio per forced-alignment pass
_MOVE_S = 1.0  # forced alignment may move a recognised word's edges this far, never the word elsewhere


@dataclass
class RefineStats:
    words: int = 0
    force_aligned: int = 0
    stretches: int = 0
    failed_stretches: int = 0


def frame_db(audio: np.ndarray, win: int = HOP, hop: int = HOP) -> np.ndarray:
    """Frame energy in dBFS; frame k starts at sample k*hop and spans `win` samples."""
    padded = np.pad(audio.astype(np.float64), (0, win))
    n = max(1, 1 + (len(audio) - 1) // hop)
    c = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(n) * hop
    power = (c[starts + win] - c[starts]) / win
    return 10 * np.log10(power + 1e-12)


def speech_threshold(db: np.ndarray) -> float:
    """Noise floor + 6 dB (10 ms frames of noise vary by well under 1 dB), never below -60 dBFS."""
    floor = float(np.percentile(db, 10))
    peak = float(np.percentile(db, 99))
    return min(max(floor + 6.0, -60.0), peak - 20.0)


# Words a warm aligner remembers (`_known`, with the ones it taught its dictionary: names, coinages) before
# it starts a job from the installed dictionary again: each stayed in pocketsphinx's dictionary and in
# `_known`, so a worker aligning script after script with new names grew by every one of them.
# A new decoder takes ~0.5 s, once per this many.
_KNOWN_LIMIT = 20_000


class ForcedAligner:
    """A pocketsphinx decoder reused for every job (loaded once per warm worker)."""

    def __init__(self, *, known_limit: int = _KNOWN_LIMIT, **decoder_options):
        # dither: digital silence (exact zeros) otherwise derails the MFCC front end.
        # topn=2 Gaussians per mixture: ~20% less CPU than the default 4, same timings on the bench.
        self._options = {"topn": 2, **decoder_options}
        self._decoder = self._new_decoder()
        # Digital silence (runs of exact zeros) derails the MFCC front end even with its
        # own dither; a fixed, seeded noise floor far below speech keeps it on track.
        self._floor = np.random.default_rng(1).normal(0.0, 10 ** (_FLOOR_DBFS / 20), SR * 30).astype(np.float32)
        self._known: dict[str, bool] = {}
        self._known_limit = known_limit

    def _new_decoder(self):
        from pocketsphinx import Decoder

        return Decoder(samprate=SR, loglevel="FATAL", dither=True, seed=1, **self._options)

    def reset(self) -> None:
        """Back to the state of a fresh decoder, at the start of each job: the front end's dither is
        seeded once, so the noise a stretch got, and with it its word times, depended on everything
        this warm worker had aligned before (the same audio came out differently job to job). Past
        `known_limit` words looked up, the job gets a new decoder (the installed dictionary only) and they
        are forgotten; never while a job's words are in use. (Not `Decoder.load_dict`: after an
        alignment it crashes pocketsphinx 5.)"""
        if len(self._known) > self._known_limit:
            self._decoder = self._new_decoder()
            self._known.clear()
        else:
            self._decoder.reinit_feat()

    def _pronounceable(self, key: str) -> bool:
        known = self._known.get(key)
        if known is None:
            d = self._decoder
            known = d.lookup_word(key) is not None
            if not known:
                phones = self._phrase(key) or self._compound(key) or " ".join(espeak_phones(key.replace("_", " ")))
                if phones:
                    d.add_word(key, phones, True)
                    known = True
            self._known[key] = known
        return known

    def _phrase(self, key: str) -> str | None:
        """A key of several dictionary words ("twenty_five_percent", see `dict_keys`)."""
        found = [self._decoder.lookup_word(part) for part in key.split("_")] if "_" in key else [None]
        return " ".join(found) if all(found) else None

    def _compound(self, key: str) -> str | None:
        d = self._decoder
        for cut in range(len(key) - 2, 1, -1):
            a, b = d.lookup_word(key[:cut]), d.lookup_word(key[cut:])
            if a and b:
                return f"{a} {b}"
        return None

    def align(self, audio: np.ndarray, keys: list[str]) -> list[tuple[float, float]] | None:
        """Times (s, relative to `audio`) of each key, or None when the words do not fit the audio."""
        if not keys or not all(self._pronounceable(k) for k in keys):
            return None
        pad = np.zeros(int(_PAD_S * SR), np.float32)
        x = np.concatenate([pad, audio, pad])
        x = x + np.resize(self._floor, x.size)
        pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
        d = self._decoder
        try:
            d.set_align_text(" ".join(keys))
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            segs = d.seg()
        except RuntimeError:
            return None
        words = [s for s in segs or [] if s.word not in ("<s>", "</s>", "<sil>") and not s.word.startswith("[")]
        if len(words) != len(keys):
            return None
        # seg() names alternates "word(2)"; times are frames of 10 ms.
        return [(s.start_frame * 0.01 - _PAD_S, (s.end_frame + 1) * 0.01 - _PAD_S) for s in words]


def _stretches(audio: np.ndarray, regions: list[dict] | None = None, max_s: float = _CHUNK_S) -> list[tuple[int, int]]:
    """Chunks of speech (sample ranges) of at most ~`max_s`, cut in the middle of the VAD's silences."""
    n = len(audio)
    if regions is None:
        from .audio import speech_regions

        regions = speech_regions(audio)
    if not regions:
        return [(0, n)]
    cuts = [0] + [(a["end"] + b["start"]) // 2 for a, b in zip(regions, regions[1:])] + [n]
    chunks: list[tuple[int, int]] = []
    start = 0
    for c0, c1 in zip(cuts[1:], cuts[2:] + [None]):
        if c1 is None or c1 - start > max_s * SR:
            chunks.append((start, c0))
            start = c0
    if start < n:
        chunks.append((start, n))
    return [(a, b) for a, b in chunks if b > a]


def refine(
    audio: np.ndarray,
    words: list[tuple[str, float, float]],
    aligner: ForcedAligner | None,
    *,
    on_progress: Callable[[float], None] | None = None,
    stats: RefineStats | None = None,
    regions: list[dict] | None = None,
    optional: list[bool] | None = None,
) -> list[tuple[float, float]]:
    """Refined (start, end) for each (text, start, end) given, in order. `regions`: VAD speech
    regions if the caller already has them (`audio.speech_regions`)."""
    stats = stats if stats is not None else RefineStats()
    stats.words += len(words)
    times = [(float(s), float(e)) for _, s, e in words]
    if not words:
        return times
    if aligner is not None:
        aligner.reset()
        chunks = _stretches(audio, regions)
        stats.stretches += len(chunks)
        mids = np.array([(s + e) / 2 for s, e in times]) * SR
        members = [np.nonzero((mids >= a) & (mids < b))[0] for a, b in chunks]
        members[0] = np.union1d(np.nonzero(mids < chunks[0][0])[0], members[0]).astype(int)
        members[-1] = np.union1d(members[-1], np.nonzero(mids >= chunks[-1][1])[0]).astype(int)
        keys = dict_keys([w[0] for w in words])  # in context: '$3.5 million' is said with the unit last
        k = 0
        while k < len(chunks):
            # A failed chunk is retried together with the next: Whisper may have put a word across the cut.
            for span in (1, 2):
                if k + span > len(chunks):
                    break
                a, b = chunks[k][0], chunks[k + span - 1][1]
                idx = np.concatenate(members[k : k + span]).astype(int)
                found = aligner.align(audio[a:b], [keys[i] for i in idx]) if idx.size and all(keys[i] for i in idx) else None
                if found is not None or idx.size == 0:
                    break
            if found is None and optional is not None and idx.size:
                # Retry without the words that may not be in the audio (unmatched script words,
                # words the aligner cannot spell); they are then spread between their neighbours.
                span, a, b = 1, chunks[k][0], chunks[k][1]
                full = members[k].astype(int)
                sure = np.array([i for i in full if not optional[i] and keys[i]], dtype=int)
                found = aligner.align(audio[a:b], [keys[i] for i in sure]) if sure.size else None
                found = found if found is None or _plausible(found, sure, times, a / SR, optional) else None
                if found is not None:
                    _spread(times, full, sure, found, a / SR)
                    stats.force_aligned += len(sure)
                    found, idx = None, np.array([], dtype=int)  # done: skip the generic write below
                    k += span
                    if on_progress:
                        on_progress(chunks[k - 1][1] / SR)
                    continue
            if found is None:
                stats.failed_stretches += 1 if idx.size else 0
                span = 1
            else:
                stats.force_aligned += len(idx)
                for i, (s, e) in zip(idx, found):
                    times[i] = (a / SR + s, a / SR + e)
            k += span
            if on_progress:
                on_progress(chunks[k - 1][1] / SR)
    return trim_to_energy(audio, times, optional)


def _plausible(found: list[tuple[float, float]], idx, times: list[tuple[float, float]], offset: float,
               optional: list[bool] | None) -> bool:
    """Whether the aligner put every recognised word near where it was heard: its span must meet the heard
    span widened by `_MOVE_S` each side. Asked only of an alignment with words left out: when words the
    audio has are missing from the aligner's text (unmatched script words the recogniser misheard), it
    stretches the others over their sound, moving a word by seconds; such a stretch keeps the recognised
    times. (With every word in its text, the aligner is trusted over the recogniser, whose times may be a
    word off.) Words timed by interpolation (`optional`) are not held to their guessed place."""
    for i, (s, e) in zip(idx, found):
        if optional is not None and optional[int(i)]:
            continue
        heard_s, heard_e = times[int(i)]
        if offset + s > heard_e + _MOVE_S or offset + e < heard_s - _MOVE_S:
            return False
    return True


def _spread(times, full, sure, found, offset) -> None:
    """Aligned words take their times; each run of other words in `full` shares the gap between its neighbours."""
    for i, (s, e) in zip(sure, found):
        times[i] = (offset + s, offset + e)
    sure_set = set(int(i) for i in sure)
    run: list[int] = []
    for pos, i in enumerate(list(full) + [None]):
        if i is not None and int(i) not in sure_set:
            run.append(int(i))
            continue
        if run:
            lo = times[run[0] - 1][1] if run[0] - 1 in sure_set else times[run[0]][0]
            hi = times[i][0] if i is not None else times[run[-1]][1]
            hi = max(hi, lo)
            step = (hi - lo) / len(run)
            for n, j in enumerate(run):
                times[j] = (lo + n * step, lo + (n + 1) * step)
            run = []


def trim_to_energy(audio: np.ndarray, times: list[tuple[float, float]],
                   optional: list[bool] | None = None) -> list[tuple[float, float]]:
    """Starts forward to the first voiced frame, ends back to the last one, never overlapping
    (`order_within`: `optional` words give way to the others).

    Frames are 10 ms windows without overlap (frame k covers k*10..k*10+10 ms), so a
    voiced frame's edges are where the sound is, to within the frame.
    """
    db = frame_db(audio, win=HOP, hop=HOP)
    voiced = db > speech_threshold(db)
    n = len(voiced)
    out: list[tuple[float, float]] = []
    for k, (s, e) in enumerate(times):
        fs, fe = max(0, int(s * 100)), min(n, int(np.ceil(e * 100)))
        if fe > fs and voiced[fs:fe].any():
            first = fs + int(np.argmax(voiced[fs:fe]))
            last = fe - 1 - int(np.argmax(voiced[fs:fe][::-1]))
            s = max(s, first / 100)
            e = min(e, (last + 1) / 100)
        if e - s < _MIN_WORD_S and not (optional and optional[k]):  # optional words: their room, `order_within`
            e = s + _MIN_WORD_S
        out.append((s, e))
    return order_within(out, len(audio) / SR, optional=optional)


_MIN_OPTIONAL_S = 0.001  # an optional word squeezed by the words around it keeps at least this


def order_within(times: list[tuple[float, float]], duration: float, min_s: float = _MIN_WORD_S,
                 optional: list[bool] | None = None) -> list[tuple[float, float]]:
    """Monotone, non-overlapping, start < end, all inside [0, duration].

    Words the audio may not have (`optional`: script words the recogniser did not hear) give way to
    the others, which are ordered among themselves (`_order`), as if the optional words were not there.
    Each run of optional words then fits in the room between its neighbours, each word `min_s` long
    where the room allows, else an equal share of it; only where there is next to no room (under
    `_MIN_OPTIONAL_S` a word: the speech runs to the very end of the audio) does the word before the
    run give up the end of its span (the word after it, for a run at the start)."""
    n = len(times)
    if not optional or not any(optional[:n]):
        return _order(times, 0.0, duration, min_s)
    out = list(times)
    sure = [i for i in range(n) if not optional[i]]
    for i, t in zip(sure, _order([times[i] for i in sure], 0.0, duration, min_s)):
        out[i] = t
    i = 0
    while i < n:
        if not optional[i]:
            i += 1
            continue
        k = i
        while k < n and optional[k]:
            k += 1
        lo = out[i - 1][1] if i > 0 else 0.0
        hi = out[k][0] if k < n else duration
        need = (k - i) * _MIN_OPTIONAL_S
        if hi - lo < need:
            if i > 0:
                s, e = out[i - 1]
                lo = max(min(lo, hi - need), s + _MIN_OPTIONAL_S)
                out[i - 1] = (s, lo)
            elif k < n:  # every word optional (a script the audio never says): nothing gives way, they share it all
                s, e = out[k]
                hi = min(max(hi, lo + need), e - _MIN_OPTIONAL_S)
                out[k] = (hi, e)
        out[i:k] = _order([(min(max(s, lo), hi), min(max(e, lo), hi)) for s, e in times[i:k]], lo, hi,
                          min(min_s, max(hi - lo, 0.0) / (k - i)))
        i = k
    return out


def _order(times: list[tuple[float, float]], lo: float, hi: float, min_s: float) -> list[tuple[float, float]]:
    """Monotone, non-overlapping, all inside [lo, hi]: forward pass pushes overlapping words right, backward
    pass pulls whatever then runs past `hi` back in (each word at least `min_s`, or a fair share of the room)."""
    out = []
    t = lo
    for s, e in times:
        s = max(s, t, lo)
        e = max(e, s + min_s)
        out.append((s, e))
        t = e
    limit = hi
    for i in range(len(out) - 1, -1, -1):
        s, e = out[i]
        if e <= limit:
            break
        room = (limit - lo) / (i + 1)  # never less than a fair share of what is left
        e = limit
        s = min(s, e - min(min_s, room))
        out[i] = (s, e)
        limit = s
    return out
