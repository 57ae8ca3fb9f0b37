"""SRT/VTT cues: as few as the limits allow, cut where subtitles read best.

The narration below is the demo's (examples/narration.txt) with contiguous word times,
so only the text decides the cuts.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modal_functions.align.captions import CLOSE_GAP_S, MIN_CUE_S, _runs, cues, ends_sentence, for_display
from modal_functions.contract.align import Caption

NARRATION = (
    "Every day, the ocean rises and falls along the coast. These tides are pulled by the moon, "
    "whose gravity tugs on the water facing it. The sun pulls too, so when sun and moon line up, "
    "we get the biggest spring tides. Next time you visit the beach, look for the line of "
    "seaweed left by the last high tide."
)


def words_at(texts: list[str], gaps_ms: list[float] | None = None, word_ms: float = 300) -> list[Caption]:
    out, t = [], 0.0
    for i, text in enumerate(texts):
        t += gaps_ms[i] if gaps_ms else 0.0
        out.append(Caption(text=text, startMs=t, endMs=t + word_ms, timestampMs=t, confidence=1.0))
        t += word_ms
    return out


def test_the_demo_narration_is_cut_after_commas_and_before_conjunctions():
    texts = [c.text for c in cues(words_at(NARRATION.split()))]
    assert texts == [
        "Every day, the ocean rises",
        "and falls along the coast.",
        "These tides are pulled by the moon,",
        "whose gravity tugs",
        "on the water facing it.",
        "The sun pulls too,",
        "so when sun and moon line up,",
        "we get the biggest spring tides.",
        "Next time you visit the beach,",
        "look for the line of seaweed",
        "left by the last high tide.",
    ]


def test_no_cue_ends_on_an_article_or_preposition_when_another_cut_fits():
    # Greedy filling gave "We walked along the shore past the" | "old harbour wall."
    texts = [c.text for c in cues(words_at("We walked along the shore past the old harbour wall.".split()))]
    assert texts == ["We walked along the shore", "past the old harbour wall."]


def test_an_orphan_word_is_avoided():
    # 8 words need two cues; greedy left "it." alone.
    texts = [c.text for c in cues(words_at("Gravity tugs on the water that is facing it.".split()))]
    assert len(texts) == 2 and all(len(t.split()) >= 3 for t in texts), texts


def test_a_pause_or_a_sentence_end_always_ends_a_cue_and_times_are_the_words():
    words = words_at(["One", "two", "three.", "Four", "five", "six"], gaps_ms=[0, 0, 0, 0, 0, 700])
    out = cues(words)
    assert [c.text for c in out] == ["One two three.", "Four five", "six"]
    assert (out[2].start, out[2].end) == (words[5].startMs / 1000, words[5].endMs / 1000)


def test_a_word_longer_than_a_cue_stands_alone():
    out = cues(words_at(["a", "Pneumonoultramicroscopicsilicovolcanoconiosis-like", "word"]), max_chars=20)
    assert [c.text for c in out] == ["a", "Pneumonoultramicroscopicsilicovolcanoconiosis-like", "word"]


def _greedy_count(run: list[Caption], max_words: int, max_chars: int) -> int:
    count, size, chars = 0, 0, 0
    for w in run:
        n = len(w.text.strip())
        if size and (size >= max_words or chars + 1 + n > max_chars):
            count, size, chars = count + 1, 0, 0
        chars = n if not size else chars + 1 + n
        size += 1
    return count + (1 if size else 0)


VOCAB = ["the", "a", "of", "to", "and", "but", "which", "moon,", "tide", "water", "gravity", "ocean.",
         "why?", "yes!", "—", "spring", "extraordinarily", "high-water-mark", "it.", "we", "look"]


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(
    texts=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=60),
    gaps=st.lists(st.sampled_from([0, 0, 0, 40, 200, 650]), min_size=60, max_size=60),
    max_words=st.integers(2, 9),
    max_chars=st.integers(12, 50),
)
def test_cues_keep_every_word_in_order_within_the_limits_and_as_few_as_greedy(texts, gaps, max_words, max_chars):
    words = words_at(texts, gaps_ms=gaps[: len(texts)])
    out = cues(words, max_words=max_words, max_chars=max_chars, pause_s=0.6)
    assert " ".join(c.text for c in out) == " ".join(texts)
    k = 0
    for c in out:
        group = words[k:k + len(c.text.split())]
        k += len(group)
        assert (c.start, c.end) == (group[0].startMs / 1000, group[-1].endMs / 1000)
        assert len(group) <= max_words
        assert len(c.text) <= max_chars or len(group) == 1
        for a, b in zip(group, group[1:]):
            assert not ends_sentence(a.text, b.text) and b.startMs - a.endMs < 600, f"cue spans a sentence end or pause: {c.text!r}"
    # the same number of cues as greedy filling within every stretch between hard breaks;
    # no stretch spans a break (checked above, per cue) and every stretch ends at one
    runs = _runs(words, 0.6)
    assert [w for r in runs for w in r] == words
    for r, nxt in zip(runs, runs[1:]):
        assert ends_sentence(r[-1].text, nxt[0].text) or nxt[0].startMs - r[-1].endMs >= 600, "a stretch ends without a break"
    assert len(out) == sum(_greedy_count(r, max_words, max_chars) for r in runs)


def test_abbreviations_and_initialisms_end_no_cue():
    text = "Mr. Smith met Dr. Jones and Mrs. Brown at Main St. on Friday, e.g. after lunch, with Prof. Lee. The U.S.A. is big."
    out = cues(words_at(text.split()))
    # one sentence, cut by length (7 words a cue) but never between a title and its name
    assert [c.text for c in out] == ["Mr. Smith met Dr. Jones and", "Mrs. Brown at Main St. on Friday,",
                                     "e.g. after lunch, with Prof. Lee.", "The U.S.A. is big."]


def test_subtitle_files_hold_short_cues_and_close_short_gaps():
    words = words_at(["Hi.", "Then", "a", "long", "pause.", "Bye."], gaps_ms=[0, 100, 0, 0, 0, 2000], word_ms=200)
    shown = for_display(cues(words), until=4.0)
    assert [c.text for c in shown] == ["Hi.", "Then a long pause.", "Bye."]
    assert (shown[0].start, shown[0].end) == pytest.approx((0.0, 0.3))  # held to the next cue (0.1 s gap closed)
    assert (shown[1].start, shown[1].end) == pytest.approx((0.3, 1.1))  # 0.8 s of speech; the 2 s pause stays open
    assert (shown[2].start, shown[2].end) == pytest.approx((3.1, 3.9))  # held to the minimum, inside the audio
    assert for_display(cues(words), until=3.5)[2].end == pytest.approx(3.5)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(
    texts=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=40),
    gaps=st.lists(st.sampled_from([0, 40, 200, 450, 650, 1500]), min_size=40, max_size=40),
    word_ms=st.sampled_from([60, 150, 300]),
)
def test_display_cues_never_overlap_and_never_flash(texts, gaps, word_ms):
    words = words_at(texts, gaps_ms=gaps[: len(texts)], word_ms=word_ms)
    exact = cues(words)
    until = words[-1].endMs / 1000 + 0.25
    shown = for_display(exact, until=until)
    assert [(c.start, c.text) for c in shown] == [(c.start, c.text) for c in exact]
    for k, (c, e) in enumerate(zip(shown, exact)):
        nxt = shown[k + 1].start if k + 1 < len(shown) else until
        assert e.end <= c.end <= nxt + 1e-9
        assert c.end - c.start >= MIN_CUE_S - 1e-9 or abs(c.end - nxt) < 1e-9
        if k + 1 < len(shown):
            assert abs(nxt - c.end) < 1e-9 or nxt - c.end >= CLOSE_GAP_S - 1e-9
