"""Chinese and Japanese narrations (the production model is multilingual): every character is a
caption word, timed from the recogniser's words, and captions join them without spaces. Thai,
Lao, Burmese and Khmer are also written without spaces: their caption words are dictionary words
(ICU's word breaks), which the recogniser's tokens are regrouped into."""

from __future__ import annotations

import numpy as np

from modal_functions.align.captions import cues
from modal_functions.align.engines.base import Recognition, Segment, Word
from modal_functions.align.pipeline import AlignerState, align
from modal_functions.align.script_align import align_script, pieces, regroup, script_tokens

ZH = "潮汐是由月球引起的。每天两次！"
# how Whisper words a Chinese narration: a few characters each, no spaces between them
HEARD_ZH = [Word("潮汐", 0.20, 0.70, spaced=False), Word("是由", 0.70, 1.10, spaced=False), Word("月球", 1.10, 1.60, spaced=False),
            Word("引起的", 1.60, 2.30, spaced=False), Word("每天", 2.80, 3.30, spaced=False), Word("两次", 3.30, 3.90, spaced=False)]


def test_each_han_or_kana_character_is_a_word_and_punctuation_stays_with_its_neighbour():
    assert pieces("AIは便利。") == ["AI", "は", "便", "利。"]
    assert pieces("「はい。」") == ["「は", "い。」"]
    assert pieces("ジャーナル") == ["ジャー", "ナ", "ル"]  # small kana and the long-vowel mark are no syllable of their own
    assert pieces("(333m)です") == ["(333m)", "で", "す"]
    assert pieces("moon,") == ["moon,"]
    assert script_tokens("月亮 rises, 月亮。") == [("月", True), ("亮", False), ("rises,", True), ("月", True), ("亮。", False)]


def test_a_chinese_script_is_timed_character_by_character_from_whisper_s_words():
    a = align_script(ZH, HEARD_ZH, duration=4.5)
    assert [w.text for w in a.words] == ["潮", "汐", "是", "由", "月", "球", "引", "起", "的。", "每", "天", "两", "次！"]
    assert a.match_rate == 1.0 and all(w.matched for w in a.words)
    assert [(round(w.start, 3), round(w.end, 3)) for w in a.words[:2]] == [(0.2, 0.45), (0.45, 0.7)]  # "潮汐" shared by length
    assert (round(a.words[8].start, 3), round(a.words[8].end, 3)) == (2.067, 2.3)  # the last third of "引起的"
    assert [w.spaced for w in a.words] == [True] + [False] * 12


def test_a_misheard_character_is_interpolated_and_the_rest_still_match():
    heard = [*HEARD_ZH[:2], Word("乐球", 1.10, 1.60, spaced=False), *HEARD_ZH[3:]]
    a = align_script(ZH, heard, duration=4.5)
    moon = a.words[4]
    assert moon.text == "月" and not moon.matched and 1.1 <= moon.start < moon.end <= 1.35 + 1e-9
    assert a.words[5].matched and a.match_rate == 12 / 13


def test_captions_and_cues_join_the_characters_without_spaces():
    words = [Word("The", 0.0, 0.2), *HEARD_ZH]
    rec = Recognition([Segment("The 潮汐是由月球引起的每天两次", 0.0, 3.9)], words, "zh")
    out = align(AlignerState(), np.zeros(16_000 * 5, dtype=np.float32), language="zh", script="The " + ZH,
                recognition=rec, refine_boundaries=False)
    assert [c.text for c in out.words[:4]] == ["The", " 潮", "汐", "是"]
    assert out.text == "The 潮汐是由月球引起的。每天两次！"
    assert [s.text for s in out.segments] == ["The 潮汐是由月球引起的。", "每天两次！"]


def test_without_a_script_whisper_s_own_spacing_is_kept_between_characters_only():
    words = [Word("AI", 0.0, 0.3), Word("は", 0.3, 0.5, spaced=False), Word("便利", 0.5, 1.0, spaced=False),
             Word("Tokyo", 1.2, 1.6, spaced=False), Word("tower", 1.6, 2.0, spaced=False)]
    out = align(AlignerState(), np.zeros(16_000 * 3, dtype=np.float32), language="ja",
                recognition=Recognition([Segment("AIは便利Tokyotower", 0.0, 2.0)], words, "ja"), refine_boundaries=False)
    # joined where a Japanese character meets its neighbour; two Latin words Whisper ran together stay apart
    assert [c.text for c in out.words] == ["AI", "は", "便利", "Tokyo", " tower"]


def test_a_long_chinese_sentence_is_cut_into_cues_by_screen_width():
    text = "月球的引力拉动地球上的海水形成了我们每天看到的潮汐现象而太阳的引力也有影响。"
    a = align_script(text, [Word(text[:-1], 0.0, 9.0, spaced=False)], duration=9.5)
    from modal_functions.align.pipeline import to_captions
    caps = to_captions([(w.text, w.start, w.end, 1.0) for w in a.words], [w.spaced for w in a.words])
    out = cues(caps)  # 42 columns: 21 characters at most
    assert "".join(c.text for c in out) == text
    assert len(out) == 2 and all(len(c.text) <= 21 and " " not in c.text for c in out)


TH = "สวัสดีครับ วันนี้เราจะเรียนรู้เรื่องปัญญาประดิษฐ์"
# how Whisper words Thai: by token, the cuts falling inside words ("สวัส" + "ดีครับ")
HEARD_TH = [Word("สวัส", 0.2, 0.5), Word("ดีครับ", 0.5, 1.0, spaced=False), Word("วันนี้", 1.3, 1.7),
            Word("เรา", 1.7, 1.9, spaced=False), Word("จะเรียน", 1.9, 2.4, spaced=False),
            Word("รู้เรื่อง", 2.4, 2.9, spaced=False), Word("ปัญญาประดิษฐ์", 2.9, 3.8, spaced=False)]


def test_thai_lao_burmese_and_khmer_are_cut_into_dictionary_words():
    assert pieces("สวัสดีครับ") == ["สวัสดี", "ครับ"]
    assert pieces("วันนี้เราจะเรียนรู้เรื่องปัญญาประดิษฐ์") == ["วัน", "นี้", "เรา", "จะ", "เรียน", "รู้", "เรื่อง", "ปัญญา", "ประดิษฐ์"]
    assert pieces("(อนาคต)ของเรา!") == ["(อนาคต)", "ของ", "เรา!"]  # punctuation with its word, as in Chinese
    assert pieces("ມື້ນີ້ພວກເຮົາຈະຮຽນ") == ["ມື້ນີ້", "ພວກ", "ເຮົາ", "ຈະ", "ຮຽນ"]
    assert pieces("ကျွန်တော်တို့") == ["ကျွန်တော်", "တို့"]
    assert pieces("ថ្ងៃនេះយើងនឹងរៀន។") == ["ថ្ងៃនេះ", "យើង", "នឹង", "រៀន។"]
    assert script_tokens("สวัสดีครับ AI") == [("สวัสดี", True), ("ครับ", False), ("AI", True)]


def test_whisper_s_thai_tokens_are_regrouped_into_the_words_the_script_has():
    words = regroup(HEARD_TH)
    assert [w.text for w in words] == ["สวัสดี", "ครับ", "วัน", "นี้", "เรา", "จะ", "เรียน", "รู้", "เรื่อง", "ปัญญา", "ประดิษฐ์"]
    assert [w.spaced for w in words] == [True, False, True] + [False] * 8
    # each character takes its token's span shared by length: "สวัส" (4) + "ดี" (2 of "ดีครับ"'s 6)
    assert (words[0].start, round(words[0].end, 3)) == (0.2, 0.667) and words[1].end == 1.0
    a = align_script(TH, HEARD_TH, duration=4.0)
    assert a.match_rate == 1.0 and [w.text for w in a.words] == [w.text for w in words]
    assert [(w.start, w.end) for w in a.words] == [(w.start, w.end) for w in words]


def test_without_a_script_thai_captions_are_words_joined_without_spaces():
    rec = Recognition([Segment("สวัสดีครับ วันนี้เราจะเรียนรู้เรื่องปัญญาประดิษฐ์", 0.2, 3.8)], HEARD_TH, "th")
    out = align(AlignerState(), np.zeros(16_000 * 4, dtype=np.float32), language="th", recognition=rec,
                refine_boundaries=False)
    assert [c.text for c in out.words[:4]] == ["สวัสดี", "ครับ", " วัน", "นี้"]
    assert "".join(c.text for c in out.words) == TH


def test_combining_marks_take_no_column_in_a_cue():
    text = "ที่นี่ที่นั่นที่โน่น"  # 9 letters and 11 vowel and tone marks above them
    a = align_script(text, [Word(text, 0.0, 2.0)], duration=2.5)
    from modal_functions.align.pipeline import to_captions
    caps = to_captions([(w.text, w.start, w.end, 1.0) for w in a.words], [w.spaced for w in a.words])
    assert len(cues(caps, max_chars=10)) == 1  # 10 columns hold the 9 letters; counting the marks, 20 would not
