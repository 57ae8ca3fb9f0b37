"""Boundary refinement: word ends stop swallowing the following silence, also where words touch."""

import numpy as np

from modal_functions.align.audio import load_audio
from modal_functions.align.engines import DecodeOptions
from modal_functions.align.pipeline import align


def errors_ms(clip, words):
    starts = [abs(w.startMs / 1000 - s) * 1000 for w, (_, s, _) in zip(words, clip.words)]
    ends = [abs(w.endMs / 1000 - e) * 1000 for w, (_, _, e) in zip(words, clip.words)]
    return float(np.mean(starts)), float(np.mean(ends))


def test_refinement_fixes_ends_on_a_gapped_clip(state, gapped_clip):
    audio = load_audio(gapped_clip.path)
    rec = state.engine("faster-whisper", "tiny.en").transcribe(audio, DecodeOptions())
    raw = align(state, audio, recognition=rec, script=gapped_clip.script, refine_boundaries=False)
    refined = align(state, audio, recognition=rec, script=gapped_clip.script, refine_boundaries=True)
    raw_start, raw_end = errors_ms(gapped_clip, raw.words)
    start, end = errors_ms(gapped_clip, refined.words)
    assert end < raw_end / 2 and end < 60, (raw_end, end)
    assert start < 60 and start <= raw_start, (raw_start, start)
    # no word end sits in the silence after it
    for w, (_, _, true_end) in zip(refined.words, gapped_clip.words):
        assert w.endMs / 1000 < true_end + 0.1


def test_refinement_holds_where_words_run_together(state, joined_clip):
    audio = load_audio(joined_clip.path)
    out = align(state, audio, script=joined_clip.script)
    start, end = errors_ms(joined_clip, out.words)
    assert start < 60 and end < 60, (start, end)
    assert out.refine_stats.force_aligned == len(out.words)
    # monotone, non-overlapping
    for a, b in zip(out.words, out.words[1:]):
        assert a.startMs < a.endMs <= b.startMs
