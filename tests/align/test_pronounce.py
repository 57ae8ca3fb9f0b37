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
    assert dict_key("Москва") == "moskva" and dict_key("Σωκράτης") == "sokratis"  # transliterated: spelt as a word, not letter by letter
    assert dict_key("🚀") == ""  # nothing to say: placed between its neighbours


def test_numbers_with_units_are_keyed_as_said():
    assert [dict_key(w) for w in ("25%", "3.5,", "$5")] == ["twenty_five_percent", "three_point_five", "five_dollars"]
    assert [dict_key(w) for w in ("2026", "1st", "42")] == ["2026", "1st", "42"]  # espeak-ng reads these as said


def test_numbers_are_keyed_as_said_in_their_sentence():
    """"$3.5 million" is said "three point five million dollars": keyed word by word, the aligner
    was told "three point five dollars million"."""
    from modal_functions.align.pronounce import dict_keys

    assert dict_keys(["hit", "$3.5", "million."]) == ["hit", "three_point_five", "million_dollars"]
    assert dict_keys(["$", "5"]) == ["", "five_dollars"]
    assert [dict_key(w) for w in ("-5", "10:30", "10:05", "10K", "$2M", "9am")] == [
        "minus_five", "ten_thirty", "ten_oh_five", "ten_thousand", "two_million_dollars", "nine_a._m."]
    assert dict_keys(["at", "9", "AM", "I", "am"]) == ["at", "9", "a._m.", "i", "am"]  # letters said as letters: "a."
    assert dict_key("million") == "million" and dict_key("2026") == "2026"  # as before


def test_numbers_keyed_as_said_are_pronounceable(state):
    from modal_functions.align.pronounce import dict_keys

    aligner = state.forced_aligner()
    words = "It fell to -5 at 10:05 and 9 a.m., we hit 10K fans and $3.5 million by 9pm".split()
    for key in dict_keys(words):
        assert aligner._pronounceable(key), key
    assert aligner._phrase("nine_a._m.") == "N AY N EY EH M"  # "a." is the letter, not the article "a"
