"""Words the aligner's dictionary lacks still get a pronunciation: compound split, else espeak-ng IPA."""

from modal_functions.align.pronounce import dict_key, espeak_phones, ipa_to_arpabet


def test_ipa_maps_to_arpabet():
    assert ipa_to_arpabet("kˈænvəs kˈæst") == ["K", "AE", "N", "V", "AH", "S", "K", "AE", "S", "T"]
    assert ipa_to_arpabet("tʃˈɜːtʃ") == ["CH", "ER", "CH"]


def test_out_of_dictionary_words_become_alignable(state):
    aligner = state.forced_aligner()
    assert espeak_phones("Remotion")  # espeak-ng knows how to say anything
    for word in ("CanvasCast", "Remotion", "42"):
        assert aligner._pronounceable(dict_key(word)), word


def test_dict_keys_are_english_letters_or_nothing():
    assert dict_key("go 🚀") == "go" and dict_key("Don’t,") == "don't" and dict_key("wíndow") == "window"
    assert dict_key("Straße") == "strasse" and dict_key("København") == "kobenhavn"
    assert dict_key("Москва") == ""  # espeak-ng would spell it letter by letter: refinement spreads it instead


def test_numbers_with_units_are_keyed_as_said():
    assert [dict_key(w) for w in ("25%", "3.5,", "$5")] == ["twenty_five_percent", "three_point_five", "five_dollars"]
    assert [dict_key(w) for w in ("2026", "1st", "42")] == ["2026", "1st", "42"]  # espeak-ng reads these as said
