"""duration_ms is rounded the way word times are, so a word clamped to the audio's end never ends after it."""

from modal_functions.align.pipeline import audio_ms, to_captions


def test_a_word_clamped_to_the_audio_end_never_ends_after_duration_ms():
    for samples in range(16000, 16000 + 3200):
        end_s = samples / 16000  # the end a last word clamped to the audio gets
        word_end = to_captions([("x", end_s - 0.1, end_s, 1.0)])[0].endMs
        assert word_end <= audio_ms(samples), samples


def test_16004_samples_the_case_the_renderer_refused():
    assert audio_ms(16004) == to_captions([("x", 0.5, 16004 / 16000, 1.0)])[0].endMs == 1000.3
