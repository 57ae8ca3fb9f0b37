"""Script-aware alignment: the captions are the script's words, timed by what was heard."""

from modal_functions.align.engines.base import Word
from modal_functions.align.script_align import FLAG_BELOW, INTERPOLATED_CONFIDENCE, align_script, normalise


def heard(text: str, step: float = 0.5) -> list[Word]:
    return [Word(w, i * step, i * step + 0.4, 0.9) for i, w in enumerate(text.split())]


def test_keeps_script_spelling_and_punctuation_with_recognised_times():
    rec = heard("welcome to canvas cast today we ship 10 videos")
    out = align_script("Welcome to CanvasCast! Today, we ship ten videos.", rec, duration=6.0)
    assert [w.text for w in out.words] == ["Welcome", "to", "CanvasCast!", "Today,", "we", "ship", "ten", "videos."]
    today = out.words[3]
    assert (today.start, today.end, today.matched) == (2.0, 2.4, True)  # took "today"'s timing
    assert out.words[6].matched  # "ten" == "10" after normalisation
    assert out.match_rate >= 0.85 and not out.flagged


def test_unmatched_words_are_interpolated_in_order_with_low_confidence():
    rec = heard("the quick brown fox jumps over the lazy dog")
    out = align_script("The quick brown zebra leaps over the lazy dog", rec, duration=5.0)
    by_text = {w.text: w for w in out.words}
    zebra, leaps = by_text["zebra"], by_text["leaps"]
    assert not zebra.matched and not leaps.matched
    assert zebra.confidence == leaps.confidence == INTERPOLATED_CONFIDENCE
    assert by_text["brown"].end <= zebra.start < zebra.end <= leaps.start < leaps.end <= by_text["over"].start
    starts = [w.start for w in out.words]
    assert starts == sorted(starts)


def test_low_match_rate_flags():
    out = align_script("Completely different narration about mountains and rivers", heard("buy cheap insurance now"), duration=3.0)
    assert out.match_rate < FLAG_BELOW and out.flagged
    assert len(out.words) == 7  # still every script word, all interpolated


def test_normalise():
    assert normalise("CanvasCast!") == "canvascast"
    assert normalise("Don't") == "don't"
    assert normalise("café") == "cafe"
    assert normalise("—") == ""


def test_caption_files_escape_what_their_formats_reserve():
    from modal_functions.align.captions import Cue, to_srt, to_vtt

    items = [Cue(0.0, 1.0, "the R&D house <3 a-->b")]
    vtt = to_vtt(items)
    assert "R&amp;D house &lt;3 a--&gt;b" in vtt and vtt.count("-->") == 1
    assert to_srt(items).count("-->") == 1


def test_short_words_must_match_exactly():
    """the/house, in/on, to/go are 0.5 similar: they must not lend each other their times."""
    from modal_functions.align.engines.base import Word
    from modal_functions.align.script_align import align_script

    heard = [Word("We", 0.0, 0.2), Word("went", 0.3, 0.5), Word("house", 0.6, 0.9)]
    out = align_script("We went the", heard, 1.0)
    assert [w.matched for w in out.words] == [True, True, False]
    near = align_script("We went Canvascast", [Word("We", 0.0, 0.2), Word("went", 0.3, 0.5), Word("CanvasCast", 0.6, 0.9)], 1.0)
    assert near.words[-1].matched  # a near spelling of a long word still matches
