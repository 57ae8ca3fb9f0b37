"""A superscript digit before a vulgar fraction ("²½", "8²¼") is no whole number: `int()` refused it and
the script's job failed with an internal error. Such a token is read, however oddly, and aligned."""

from modal_functions.align.engines.base import Word
from modal_functions.align.numbers import spoken_readings
from modal_functions.align.pronounce import dict_keys
from modal_functions.align.script_align import align_script


def test_superscript_digits_before_a_fraction_are_read_not_a_crash():
    for token in ("²½", "8²¼", "³¾"):
        assert spoken_readings([token])[0] and dict_keys([token])[0]


def test_a_script_with_one_is_aligned():
    heard = [Word("The", 0.0, 0.2), Word("ratio", 0.3, 0.6), Word("is", 0.7, 0.8), Word("done", 1.5, 1.8)]
    out = align_script("The ratio is 8²¼ done.", heard, 2.0)
    assert [w.text for w in out.words] == ["The", "ratio", "is", "8²¼", "done."]
    assert [w.matched for w in out.words] == [True, True, True, False, True]


def test_other_decimal_digits_still_make_a_mixed_fraction():
    assert spoken_readings(["1½"])[0][0] == ("one", "and", "a", "half")
    assert spoken_readings(["٣½"])[0][0] == ("three", "and", "a", "half")  # Arabic-Indic three
