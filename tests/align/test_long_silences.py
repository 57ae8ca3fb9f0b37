"""Long silences and scripts that outrun their audio.

Whisper decodes 30 s windows: on a window of pure silence it hallucinated "you", and with that as
its prompt wrote the speech after a minute of silence as "you you...", so every script word was
spread over the silence. Both engines now decode only the VAD's speech (long silences cut out,
`audio.speech_clips`). Script words the recogniser never wrote are put in the VAD's speech, not
squeezed at its last word, and they give way to the words it did hear, never moving them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from modal_functions.align.audio import SAMPLE_RATE, load_audio, speech_clips, speech_regions, write_wav
from modal_functions.align.engines import DecodeOptions
from modal_functions.align.pipeline import align
from modal_functions.align.refine import order_within
from modal_functions.align.script_align import align_script

from .conftest import SENTENCE, word_clip

SR = SAMPLE_RATE
EXTRA = ("Later the fox came back home and slept for a very long time under the old oak tree near the river, "
         "dreaming of chickens and rabbits and warm summer days.")


def _pink(n: int, dbfs: float, seed: int) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(seed).normal(size=n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    noise = np.fft.irfft(spectrum, n)
    return (noise * (10 ** (dbfs / 20) / np.sqrt(np.mean(noise**2)))).astype(np.float32)


@pytest.fixture(scope="module")
def spoken(clip_dir):
    """The gapped sentence: its samples and the span its words take (s)."""
    clip = word_clip(clip_dir / "silences-base.wav", SENTENCE, gaps="gapped", seed=21)
    audio = load_audio(clip.path)
    return clip, audio, (clip.words[0][1], clip.words[-1][2])


def _after_silence(spoken, path, seconds: float, noise_dbfs: float | None = None):
    clip, audio, (start, end) = spoken
    out = np.concatenate([np.zeros(int(seconds * SR), np.float32), audio])
    if noise_dbfs is not None:
        out = out + _pink(out.size, noise_dbfs, seed=5)
    return load_audio(write_wav(path, out)), (start + seconds, end + seconds)


def test_clips_cut_only_long_silences():
    r = lambda *spans: [{"start": int(a * SR), "end": int(b * SR)} for a, b in spans]  # noqa: E731
    assert speech_clips(r((0.3, 2.0), (2.5, 5.0)), 5.4) == ()  # short pauses: the whole audio, as before
    assert speech_clips(r((60.3, 62.5), (62.9, 66.0)), 66.3) == (59.8,)  # lead silence cut, the rest to the end
    assert speech_clips(r((0.1, 6.0), (66.6, 72.3)), 72.6) == (0.0, 6.5, 66.1)  # a minute's gap in the middle
    assert speech_clips(r((0.1, 6.0)), 66.3) == (0.0, 6.5)  # trailing silence
    assert speech_clips([], 30.0) == ()  # no speech found: decode everything


@pytest.mark.slow  # Whisper tiny.en + forced alignment on 66 s
@pytest.mark.parametrize("noise", [None, -50.0], ids=["digital-silence", "pink-noise-50dB"])
def test_speech_after_a_minute_of_silence_is_aligned_where_it_is_said(state, spoken, tmp_path, noise):
    clip = spoken[0]
    audio, (start, end) = _after_silence(spoken, tmp_path / "lead60.wav", 60.0, noise)
    out = align(state, audio, script=clip.script)
    assert not out.flagged, out.match_rate  # was 0.0: every word spread over the silence
    assert len(out.words) == len(clip.words)
    for w, (text, s, e) in zip(out.words, clip.words):
        assert start - 0.3 <= w.startMs / 1000 < w.endMs / 1000 <= end + 0.3, (text, w)
    assert np.mean([abs(w.startMs / 1000 - (s + 60.0)) for w, (_, s, _) in zip(out.words, clip.words)]) < 0.1


@pytest.mark.slow  # both engines on 96 s
def test_both_engines_decode_the_same_clips_token_for_token(spoken, tmp_path, fw32_engine, openai_engine):
    audio, (start, end) = _after_silence(spoken, tmp_path / "lead90.wav", 90.0)
    clips = speech_clips(speech_regions(audio), audio.size / SR)
    assert clips and clips[0] > 80.0  # the minute and a half of silence is not decoded
    options = DecodeOptions(language="en", clips=clips)
    a, b = fw32_engine.transcribe(audio, options), openai_engine.transcribe(audio, options)
    assert a.tokens and a.tokens == b.tokens
    assert a.words and all(start - 1.0 <= w.start and w.end <= end + 1.0 for w in a.words)


@pytest.mark.slow
@pytest.mark.parametrize("refine", [True, False])
def test_words_the_recogniser_stopped_before_are_put_in_the_speech(state, spoken, refine):
    """Whisper can stop seconds before the speech does (a window it ends early): the script's last
    words then took the last recognised word's span between them."""
    clip, audio, (start, end) = spoken
    rec = state.engine("faster-whisper", "tiny.en").transcribe(audio, DecodeOptions())
    cut = next(k for k, w in enumerate(rec.words) if w.text.strip(".,").lower() == "light")
    stopped = dataclasses.replace(rec, words=rec.words[:cut] + [dataclasses.replace(rec.words[cut], text="lied")])
    out = align(state, audio, recognition=stopped, script=clip.script, refine_boundaries=refine)
    tail = out.words[cut:]  # light into power for the house.
    assert [w.text.strip() for w in tail][-1] == "house."
    for w, (text, s, e) in zip(tail, clip.words[cut:]):
        assert w.endMs - w.startMs >= 20, (text, w)
        assert start - 0.3 <= w.startMs / 1000 and w.endMs / 1000 <= end + 0.3, (text, w)
    assert out.words[-1].endMs / 1000 > end - 0.5  # spread to where the speech ends, not at "lied"


def test_unmatched_words_follow_the_speech_past_the_last_heard_word():
    from modal_functions.align.engines import Word

    heard = [Word("one", 0.0, 0.4), Word("two", 0.5, 0.9), Word("hmm", 0.9, 1.0)]
    script = "one two three four five six"
    speech = [(0.0, 1.0), (1.2, 2.0), (5.0, 6.0)]  # silence 2.0-5.0
    words = align_script(script, heard, 8.0, speech=speech).words
    assert [(w.start, w.end) for w in words[:2]] == [pytest.approx((0.0, 0.4)), pytest.approx((0.5, 0.9))]
    rest = words[2:]
    assert rest[-1].end == pytest.approx(6.0)
    for w in rest:
        assert not w.matched and 0.9 <= w.start < w.end <= 6.0
        assert not (2.0 < w.start < 5.0 and 2.0 < w.end < 5.0), w  # none only in the silence
    old = align_script(script, heard, 8.0).words  # without the VAD: squeezed before the last heard word's end
    assert old[-1].end == pytest.approx(1.0)


def test_optional_words_give_way_to_heard_ones():
    heard = [(0.0, 0.4), (0.5, 1.0), (1.1, 2.0)]
    times = heard + [(2.0, 2.01)] * 10  # ten script words the audio never says, after the last heard one
    optional = [False] * 3 + [True] * 10
    out = order_within(times, 2.05, optional=optional)
    assert out[:3] == heard
    assert all(2.0 <= s < e <= 2.05 for s, e in out[3:])
    assert all(a[1] <= b[0] for a, b in zip(out, out[1:]))
    squeezed = order_within(heard + [(2.0, 2.0)] * 10, 2.0, optional=optional)  # no room at all
    assert squeezed[:2] == heard[:2] and squeezed[2][0] == 1.1 and squeezed[2][1] >= 1.98
    assert all(s < e <= 2.0 for s, e in squeezed) and all(a[1] <= b[0] + 1e-9 for a, b in zip(squeezed, squeezed[1:]))


@pytest.mark.slow
@pytest.mark.parametrize("refine", [True, False])
def test_script_words_the_audio_never_says_do_not_move_the_heard_ones(state, spoken, refine):
    clip, audio, (start, end) = spoken
    rec = state.engine("faster-whisper", "tiny.en").transcribe(audio, DecodeOptions())
    plain = align(state, audio, recognition=rec, script=clip.script, refine_boundaries=refine)
    longer = align(state, audio, recognition=rec, script=clip.script + " " + EXTRA, refine_boundaries=refine)
    n = len(plain.words)
    assert [w.text for w in longer.words[:n]] == [w.text for w in plain.words]
    for a, b in zip(plain.words, longer.words[:n]):
        if refine:
            assert abs(a.startMs - b.startMs) <= 50 and abs(a.endMs - b.endMs) <= 50, (a, b)
        else:
            assert (a.startMs, a.endMs) == (b.startMs, b.endMs), (a, b)
    extra = longer.words[n:]
    assert len(extra) == len(EXTRA.split())
    duration_ms = round(audio.size / 16, 1)  # as the captions round it
    assert all(longer.words[n - 1].endMs <= w.startMs < w.endMs <= duration_ms for w in extra)
    for a, b in zip(longer.words, longer.words[1:]):
        assert a.endMs <= b.startMs, (a, b)
