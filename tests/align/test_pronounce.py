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
