"""The forced aligner's dictionary does not grow without end on a warm worker.

Every word the pronouncing dictionary lacks (a name, a coinage) was added to pocketsphinx's dictionary and
remembered in `ForcedAligner._known` for the life of the worker: a worker aligning script after script
with new names grew by every one of them. Past `known_limit` words looked up, the next job starts with
a new decoder (the installed dictionary only), and times its words exactly as before."""

from __future__ import annotations

from modal_functions.align.audio import load_audio, speech_regions
from modal_functions.align.refine import ForcedAligner, refine


def _names(job: int) -> list[str]:
    return [f"zorbl{chr(97 + job)}{chr(97 + k)}x" for k in range(3)]  # in no dictionary


def test_words_added_for_earlier_jobs_are_let_go_past_the_limit():
    aligner = ForcedAligner(known_limit=4)
    for job in range(6):
        aligner.reset()
        assert all(aligner._pronounceable(name) for name in _names(job))
        assert len(aligner._known) <= 4 + len(_names(job))  # at most the limit and what one job adds
    assert aligner._decoder.lookup_word(_names(0)[0]) is None  # gone from pocketsphinx's dictionary too
    assert aligner._decoder.lookup_word(_names(5)[0]) is not None
    assert aligner._decoder.lookup_word("hello") is not None  # the installed dictionary stays


def test_a_job_after_the_dictionary_is_reloaded_is_timed_as_on_a_fresh_aligner(joined_clip):
    audio = load_audio(joined_clip.path)
    regions = speech_regions(audio)
    words = [(w, s + 0.05, e + 0.05) for w, s, e in joined_clip.words]
    words[3] = ("Zorblax", *words[3][1:])  # a name the aligner has to be taught, in the middle
    expected = refine(audio, words, ForcedAligner(), regions=regions)
    aligner = ForcedAligner(known_limit=2)
    for job in range(3):  # other jobs' names first, past the limit
        aligner.reset()
        assert all(aligner._pronounceable(name) for name in _names(job))
    assert refine(audio, words, aligner, regions=regions) == expected
    assert refine(audio, words, aligner, regions=regions) == expected
