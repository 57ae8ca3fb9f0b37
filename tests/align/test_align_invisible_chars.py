"""Invisible characters in a script sent through the API (the CLI strips a leading byte-order mark, the API
takes the text as it comes): a BOM, zero-width spaces, word joiners, soft hyphens and stray zero-width
(non-)joiners are no part of the captions. Left in, a caption word "moon\u200b" does not match a search for
"moon", copies with junk, and some players break lines at them. Joiners that spell something (an emoji
sequence, a Persian word) stay, and so does every visible character of the script."""

from __future__ import annotations

import numpy as np

from modal_functions.align.captions import cues, to_srt, to_vtt
from modal_functions.align.engines.base import Recognition, Word
from modal_functions.align.pipeline import AlignerState, align
from modal_functions.align.script_align import align_script, script_words

INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\u00ad"
SCRIPT = "\ufeffThe moon\u200b pulls \u200b the wa\u00adter\u2060. <b>Tides</b>\u200d rise\u200c."
WORDS = ["The", "moon", "pulls", "the", "water.", "<b>Tides</b>", "rise."]


def test_script_words_drop_invisible_characters():
    assert script_words(SCRIPT) == WORDS


def test_joiners_that_spell_something_stay():
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # one emoji, three people
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want": the ZWNJ is its spelling
    assert script_words(f"Hi {family} {persian}") == [f"Hi {family}", persian]


def test_controls_and_the_whitespace_the_worker_splits_on():
    # The worker splits on JavaScript's whitespace (U+FEFF is one); a C0 control is none there, and no text.
    assert script_words("hello\ufeffworld") == ["hello", "world"]
    assert script_words("nul\x00l\x7f") == ["null"]


def test_aligned_words_and_subtitle_files_carry_no_invisible_characters():
    heard = [Word(w.strip("."), 0.5 + 0.4 * k, 0.8 + 0.4 * k) for k, w in enumerate(
        ["the", "moon", "pulls", "the", "water", "b", "tides", "b", "rise"])]
    assert all(not set(w.text) & set(INVISIBLE) for w in align_script(SCRIPT, heard, 5.0).words)
    recognition = Recognition(segments=[], words=heard, language="en")
    result = align(AlignerState(), np.zeros(16_000 * 5, np.float32), script=SCRIPT, refine_boundaries=False,
                   recognition=recognition, speech=[])
    assert [c.text.strip() for c in result.words] == WORDS
    assert not set(result.text) & set(INVISIBLE)
    items = cues(result.words)
    vtt = to_vtt(items)
    assert not set(vtt) & set(INVISIBLE)
    srt = to_srt(items)
    assert not set(srt.replace("<\u2060", "<")) & set(INVISIBLE)  # only the writer's own escapes
    assert "<\u2060b>Tides<\u2060/b>" in srt
