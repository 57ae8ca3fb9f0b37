"""A warm worker times a job's words as a fresh one does, whatever it aligned before.

pocketsphinx seeds its dither once per front end, so the noise each stretch got, and with it the
forced alignment, depended on every stretch the worker had aligned since it started: the same audio
came out 10 ms apart on a second run, and a misheard clip's "diesel." 0.74 s early after another job."""

from modal_functions.align.audio import load_audio, speech_regions
from modal_functions.align.pipeline import AlignerState, align
from modal_functions.align.refine import ForcedAligner, refine

from .conftest import word_clip


def test_the_same_words_refined_twice_get_the_same_times(state, joined_clip):
    audio = load_audio(joined_clip.path)
    regions = speech_regions(audio)
    words = [(w, s + 0.05, e + 0.05) for w, s, e in joined_clip.words]  # Whisper's times are a little off
    runs = [refine(audio, words, state.forced_aligner(), regions=regions) for _ in range(3)]
    assert runs[1] == runs[0] and runs[2] == runs[0]


def test_a_job_after_another_is_timed_as_on_a_fresh_worker(state, clip_dir, joined_clip):
    clip = word_clip(clip_dir / "history.wav", "Fill 3/4 of the tank with fuel, e.g. diesel.", gaps="gapped", seed=11,
                     said={"3/4": "three quarters", "e.g.": "for example"})
    audio = load_audio(clip.path)
    fresh = AlignerState(engines=state.engines, aligner=ForcedAligner())  # the same models, a new aligner
    expected = align(fresh, audio, script=clip.script)
    warm = AlignerState(engines=state.engines, aligner=ForcedAligner())
    align(warm, load_audio(joined_clip.path), script=joined_clip.script)  # another job first
    warm = align(warm, audio, script=clip.script)
    assert [(w.text, w.startMs, w.endMs) for w in warm.words] == [(w.text, w.startMs, w.endMs) for w in expected.words]
