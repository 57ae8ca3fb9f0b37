"""Script-aware alignment: the captions are the script's words, timed by what was heard."""

from modal_functions.align.engines.base import Word
from modal_functions.align.script_align import FLAG_BELOW, INTERPOLATED_CONFIDENCE, align_script, normalise


def heard(text: str, step: float = 0.5) -> list[Word]:
    return [Word(w, i * step, i * step + 0.4, 0.9) for i, w in enumerate(text.split())]


def timing(out, text):
    w = next(w for w in out.words if w.text == text)
    return round(w.start, 3), round(w.end, 3), w.matched


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


# --- words in any script, and tokens that are not words -------------------------------------------


def test_words_in_other_scripts_have_keys_and_match():
    assert normalise("Привет,") == "привет" and normalise("Ελλάδα") == "ελλαδα" and normalise("東京") == "東京"
    rec = heard("we landed in москва today")
    out = align_script("We landed in Москва today.", rec, duration=3.0)
    assert [w.text for w in out.words] == ["We", "landed", "in", "Москва", "today."]
    moscow = out.words[3]
    assert moscow.matched and (moscow.start, moscow.end) == (1.5, 1.9)  # the recogniser's time, not interpolated
    assert out.match_rate == 1.0


def test_words_in_another_alphabet_match_an_english_recogniser_s_spelling():
    """tiny.en writes "Tchaikovsky" for "Чайковский": compared in Latin letters they are near spellings."""
    out = align_script("Then Чайковский met Σωκράτης in Москва.", heard("then tchaikovsky met socrates in moscow"), duration=4.0)
    assert [w.matched for w in out.words] == [True] * 6 and out.match_rate == 1.0
    assert timing(out, "Σωκράτης") == (1.5, 1.9, True)
    out = align_script("Then Чайковский left.", heard("then tomorrow left"), duration=2.0)
    assert not out.words[1].matched  # a different word is still no match


def test_symbol_tokens_ride_with_a_word_and_do_not_count():
    from modal_functions.align.captions import cues, to_srt, to_vtt
    from modal_functions.align.pipeline import to_captions

    rec = heard("launch day is here are you ready")
    out = align_script("🎉 Launch day 🚀 is here — are you ready? &", rec, duration=4.0)
    assert [w.text for w in out.words] == ["🎉 Launch", "day 🚀", "is", "here —", "are", "you", "ready? &"]
    assert all(w.matched for w in out.words) and out.match_rate == 1.0  # symbols are no unmatched words
    assert timing(out, "day 🚀") == (0.5, 0.9, True)  # keeps "day"'s time
    caps = to_captions([(w.text, w.start, w.end, w.confidence) for w in out.words])
    srt, vtt = to_srt(cues(caps)), to_vtt(cues(caps))
    for token in ("🎉", "🚀", "—"):
        assert token in srt and token in vtt
    assert "ready? &" in srt and "ready? &amp;" in vtt


def test_sentence_ends_are_seen_past_closing_symbols():
    from modal_functions.align.captions import ends_sentence

    assert ends_sentence("Done. 🎉") and ends_sentence("“Yes.”") and ends_sentence("(really?)")
    assert not ends_sentence("here —") and not ends_sentence("go 🚀")


def test_a_script_of_symbols_only_has_no_words():
    from modal_functions.align.script_align import script_words

    assert script_words("🚀 — &") == []
    assert script_words("— Hello, world 👋") == ["— Hello,", "world 👋"]


# --- numbers written one way and said (or recognised) another ----------------------------------------


def test_year_in_digits_matches_the_words_heard():
    rec = heard("in twenty twenty six we grew")
    out = align_script("In 2026 we grew.", rec, duration=4.0)
    assert timing(out, "2026") == (0.5, 1.9, True)  # first "twenty" start .. "six" end
    assert out.match_rate == 1.0


def test_year_in_words_matches_the_digits_heard():
    rec = heard("in 2026 we grew")  # one recognised word, shared by the script's three
    out = align_script("In twenty twenty-six we grew.", rec, duration=3.0)
    assert [w.matched for w in out.words] == [True] * 5 and out.match_rate == 1.0
    twenty, twenty_six = out.words[1], out.words[2]
    assert 0.5 == twenty.start < twenty.end == twenty_six.start < twenty_six.end == 0.9


def test_a_year_read_the_other_way_still_matches():
    out = align_script("In 2026 we grew.", heard("in two thousand twenty six we grew"), duration=4.0)
    assert timing(out, "2026") == (0.5, 2.4, True)
    spelled = align_script("In two thousand and twenty six we grew.", heard("in 2026 we grew"), duration=3.0)
    assert spelled.match_rate == 1.0


def test_decimal_with_scale_both_ways():
    out = align_script("Revenue hit three point five million dollars.", heard("revenue hit $3.5 million."), duration=3.0)
    assert all(w.matched for w in out.words), [(w.text, w.matched) for w in out.words]
    back = align_script("Revenue hit $3.5 million.", heard("revenue hit three point five million dollars"), duration=4.0)
    assert timing(back, "$3.5") == (1.0, 2.4, True) and timing(back, "million.") == (2.5, 3.4, True)


def test_percent_and_ordinal():
    out = align_script("Up 25% on our 1st try", heard("up twenty five percent on our first try"), duration=4.0)
    assert timing(out, "25%") == (0.5, 1.9, True) and timing(out, "1st") == (3.0, 3.4, True)
    back = align_script("Up twenty-five percent on our first try", heard("up 25% on our 1st try"), duration=4.0)
    assert back.match_rate == 1.0


def test_match_rate_is_full_when_all_speech_matches_with_numbers_written_differently():
    script = "In 2026 we shipped 3.5 million videos, up 25% for the 2nd year, at $5 each."
    rec = heard("in twenty twenty-six we shipped three point five million videos up twenty five percent "
                "for the second year at five dollars each")
    out = align_script(script, rec, duration=15.0)
    assert out.match_rate == 1.0 and not out.flagged
    starts = [w.start for w in out.words]
    assert starts == sorted(starts)
    old_style = align_script(script, heard("in 2026 we shipped 3.5 million videos up 25% for the 2nd year at $5 each"), 10.0)
    assert old_style.match_rate == 1.0  # digits on both sides still match themselves


def test_a_wrong_number_is_not_a_match():
    out = align_script("In 2026 we grew.", heard("in twenty twenty seven we grew"), duration=4.0)
    start, end, matched = timing(out, "2026")
    assert not matched and out.match_rate == 0.75
    assert (start, end) == (0.5, 1.9)  # still placed where the number was said
    assert not align_script("fifteen people", heard("fifty people"), 1.0).words[0].matched  # no near spellings for numbers


SAID_BOTH_WAYS = [  # (as the script may write it, as the recogniser may write it), each tried both ways round
    ("It was -5 degrees.", "it was minus five degrees"),
    ("It was −5 degrees.", "it was negative five degrees"),
    ("We start at 10:30 sharp.", "we start at ten thirty sharp"),
    ("We start at 10:17 sharp.", "we start at seventeen minutes past ten sharp"),
    ("We start at 10:43 sharp.", "we start at seventeen to eleven sharp"),
    ("Doors open at 10:05 today.", "doors open at ten oh five today"),
    ("Doors open at 10:00 today.", "doors open at ten o'clock today"),
    ("Doors open at 10 o'clock today.", "doors open at 10:00 today"),
    ("Open at 9am daily.", "open at nine a m daily"),
    ("Open at 9am daily.", "open at nine am daily"),
    ("Open at 9 a.m. daily.", "open at nine am daily"),
    ("Open at 9 a.m. daily.", "open at 9am daily"),
    ("Open at nine AM daily.", "open at 9 a.m. daily"),
    ("Open at 9:30pm daily.", "open at nine thirty p.m. daily"),
    ("We hit 10K users.", "we hit ten thousand users"),
    ("We raised $2M today.", "we raised two million dollars today"),
    ("We raised 2M today.", "we raised two million today"),
    ("A 5B deal.", "a five billion deal"),
    ("The train leaves at 10.45 sharp.", "the train leaves at ten forty five sharp"),
    ("Doors open at 10:15 today.", "doors open at quarter past ten today"),
    ("We close at 5:30pm today.", "we close at half past five p m today"),
    ("Doors open at 6:40 today.", "doors open at twenty to seven today"),
    ("The train leaves at 10.45 sharp.", "the train leaves at quarter to eleven sharp"),
    ("The train leaves at 10.45pm.", "the train leaves at ten forty five p m"),
    ("It ends by 9.30 p.m. tonight.", "it ends by nine thirty pm tonight"),
    ("The train leaves at 10.45 sharp.", "the train leaves at 10:45 sharp"),
]


def test_signs_clock_times_and_magnitudes_match_however_written():
    for script, rec in SAID_BOTH_WAYS:
        for a, b in ((script, rec), (rec, script)):
            out = align_script(a, heard(b), duration=10.0)
            assert out.match_rate == 1.0, (a, b, [(w.text, w.matched) for w in out.words])
            starts = [w.start for w in out.words]
            assert starts == sorted(starts)
    out = align_script("We raised $2M at 9:30pm.", heard("we raised two million dollars at nine thirty p m"), 6.0)
    assert timing(out, "$2M") == (1.0, 2.4, True) and timing(out, "9:30pm.") == (3.0, 4.9, True)
    assert timing(align_script("We hit 10K users", heard("we hit ten k users"), 3.0), "10K")[2]  # said "ten K"


def test_a_wrong_time_or_sign_is_not_a_match():
    assert not timing(align_script("Open at 10:30 daily", heard("open at ten forty daily"), 3.0), "10:30")[2]
    assert not timing(align_script("Open at 9am daily", heard("open at nine p m daily"), 3.0), "9am")[2]
    assert not timing(align_script("We raised $2M", heard("we raised two billion dollars"), 3.0), "$2M")[2]


def test_a_script_unrelated_to_the_audio_takes_linear_work(monkeypatch):
    """A wrong narration file (no word in common) made the whole script one stretch for the full
    O(n*m) programme: minutes for a 30-minute narration. Past a size it only fills a band along the
    stretch's diagonal; the work is counted in similarity computations, one per cell."""
    import random

    from modal_functions.align import script_align

    calls = 0
    similarity = script_align._similarity

    def counted(a: str, b: str) -> float:
        nonlocal calls
        calls += 1
        return similarity(a, b)

    monkeypatch.setattr(script_align, "_similarity", counted)
    rng = random.Random(1)

    def vocabulary() -> list[str]:
        return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9))) for _ in range(2000)]

    said_words, heard_words = vocabulary(), vocabulary()
    for n, m in ((2000, 2000), (2000, 600), (600, 2000)):
        calls = 0
        rec = [Word(rng.choice(heard_words), i * 0.4, i * 0.4 + 0.3, 0.9) for i in range(m)]
        duration = m * 0.4
        out = align_script(" ".join(rng.choice(said_words) for _ in range(n)), rec, duration)
        band = 2 * script_align._BAND_MARGIN + 4
        assert calls <= (n + m) * band < n * m / 10, (n, m, calls)
        assert out.match_rate < 0.2 and out.flagged, out.match_rate  # only chance near-spellings
        assert len(out.words) == n
        assert all(0.0 <= w.start <= w.end <= duration for w in out.words)
        assert all(a.end <= b.start + 1e-9 for a, b in zip(out.words, out.words[1:]))


def test_the_full_programme_still_runs_between_anchors_of_ordinary_size(monkeypatch):
    """Below the size limit nothing changed: every cell is filled (a band could miss a pairing)."""
    from modal_functions.align import script_align

    assert script_align._band(150, 200) == [(0, 200)] * 151
    band = script_align._band(2000, 600)
    assert band[0][0] == 0 and band[-1][1] == 600
    assert all(lo <= hi and lo <= prev_hi + 1 and prev_lo <= lo for (prev_lo, prev_hi), (lo, hi) in zip(band, band[1:]))
