"""`align_script` on its own (no refinement, no `order_within` after it) never times a word to end before
it starts. A run of unmatched script units with no room between its matched neighbours (the recogniser
put them end to end, or heard them in another order) was spread over 10 ms a unit *past* the right
neighbour's start, so a script word made of unmatched units and a matched one ("5%": "five" unmatched,
"percent" matched) started after it ended."""

from __future__ import annotations

import random

from modal_functions.align.engines.base import Word
from modal_functions.align.script_align import align_script

SCRIPT = "¹/₂ 12:00am 5% p.m. -40°F"


def test_a_word_squeezed_against_its_matched_unit_ends_after_it_starts():
    heard = [Word("degrees", 0.2, 0.2), Word("half", 0.3, 0.7), Word("percent", 0.7, 0.7), Word("minus", 0.7, 1.1)]
    words = {w.text: w for w in align_script(SCRIPT, heard, 1.5).words}
    five = words["5%"]
    assert not five.matched
    assert five.start <= five.end <= words["p.m."].start


def test_no_word_ends_before_it_starts_whatever_the_recogniser_heard():
    pool = ["a", "half", "twelve", "a.m.", "am", "five", "percent", "5%", "p.m.", "pm", "minus", "forty", "degrees",
            "fahrenheit", "12:00", "½", "the", "-40°F", "40"]
    rng = random.Random(1)
    for _ in range(500):
        heard, t = [], rng.uniform(0, 1)
        for _ in range(rng.randint(1, 10)):
            d = rng.choice([0.0, 0.02, 0.2, 0.4])
            heard.append(Word(rng.choice(pool), t, t + d))
            t += d + rng.choice([0.0, 0.0, 0.1, 1.0])
        duration = t + rng.choice([0.0, 0.5])
        speech = [(max(0.0, heard[0].start - 0.2), heard[-1].end + rng.choice([0.0, 0.3]))] if rng.random() < 0.5 else None
        out = align_script(SCRIPT, heard, duration, speech=speech).words
        assert all(w.start <= w.end for w in out), (heard, speech, [(w.text, w.start, w.end) for w in out])
        assert all(a.start <= b.start for a, b in zip(out, out[1:])), (heard, speech)
