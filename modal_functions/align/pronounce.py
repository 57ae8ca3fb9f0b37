"""Pronunciations for the forced aligner: CMUdict first, then espeak-ng's IPA mapped to ARPAbet.

The aligner's dictionary (pocketsphinx en-us, CMUdict) lacks names and coinages such
as "CanvasCast" or "Remotion", and numbers written as digits. For those we ask
espeak-ng (installed with the system packages) for IPA and map it onto the 39 ARPAbet
phones the acoustic model knows.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

from .numbers import Reading, is_meridiem, parse, spoken_readings, written_otherwise
from .wordkeys import romanised, word_key

# Longest symbols first: diphthongs and affricates before their parts.
_IPA_TO_ARPA = [
    ("aɪə", "AY ER"), ("aɪ", "AY"), ("aʊ", "AW"), ("eɪ", "EY"), ("oʊ", "OW"), ("əʊ", "OW"), ("ɔɪ", "OY"),
    ("ɪə", "IH R"), ("eə", "EH R"), ("ʊə", "UH R"), ("tʃ", "CH"), ("dʒ", "JH"), ("ɜː", "ER"), ("ɑː", "AA"),
    ("ɔː", "AO"), ("iː", "IY"), ("uː", "UW"), ("oː", "AO"), ("n̩", "AH N"), ("l̩", "AH L"),
    ("ɚ", "ER"), ("ɝ", "ER"), ("ɪ", "IH"), ("ᵻ", "IH"), ("i", "IY"), ("e", "EH"), ("ɛ", "EH"), ("æ", "AE"),
    ("a", "AE"), ("ɑ", "AA"), ("ɒ", "AA"), ("ɔ", "AO"), ("o", "OW"), ("ʊ", "UH"), ("u", "UW"), ("ʌ", "AH"),
    ("ə", "AH"), ("ɐ", "AH"), ("p", "P"), ("b", "B"), ("t", "T"), ("d", "D"), ("k", "K"), ("ɡ", "G"),
    ("g", "G"), ("f", "F"), ("v", "V"), ("θ", "TH"), ("ð", "DH"), ("s", "S"), ("z", "Z"), ("ʃ", "SH"),
    ("ʒ", "ZH"), ("h", "HH"), ("x", "HH"), ("m", "M"), ("n", "N"), ("ŋ", "NG"), ("l", "L"), ("ɫ", "L"),
    ("ɹ", "R"), ("r", "R"), ("ɾ", "T"), ("w", "W"), ("j", "Y"),
]
_IGNORED = set("ˈˌː.ʔ-_ ̃ʲ'")


def ipa_to_arpabet(ipa: str) -> list[str]:
    phones: list[str] = []
    i = 0
    while i < len(ipa):
        if ipa[i] in _IGNORED or ipa[i].isspace():
            i += 1
            continue
        for sym, arpa in _IPA_TO_ARPA:
            if ipa.startswith(sym, i):
                phones += arpa.split()
                i += len(sym)
                break
        else:
            i += 1  # a symbol the acoustic model has no phone for: skip it
    return phones


@lru_cache(maxsize=4096)
def espeak_phones(word: str, voice: str = "en-us") -> tuple[str, ...]:
    exe = shutil.which("espeak-ng")
    if exe is None or not word:
        return ()
    try:
        out = subprocess.run([exe, "-q", "--ipa", "-v", voice, word], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(ipa_to_arpabet(out.strip()))


def dict_keys(words: list[str]) -> list[str]:
    """The aligner's spelling of each caption word, in its sentence: lowercase letters, digits and
    inner apostrophes (`dict_key`), or, for a number, how it is said there ("$3.5 million" is said
    "three point five million dollars": "$3.5" -> three_point_five, "million" -> million_dollars)."""
    in_context = [r[0] for r in spoken_readings(list(words))]
    return [romanised(said_key(w, said) or word_key(w)) for w, said in zip(words, in_context)]


def dict_key(word: str) -> str:
    """The aligner's spelling of a caption word: lowercase letters, digits and inner apostrophes.

    The same key as script alignment compares (accents folded, symbols such as an attached
    emoji dropped), but in English letters: the en-us acoustic model has no phones for other
    scripts (espeak-ng would spell "привет" letter by letter), so such a word is transliterated
    ("privet") and stays in the aligner's text (left out, its neighbours would be stretched over its
    sound). A word with no letters left ("") is placed between its neighbours.
    """
    return dict_keys([word])[0]


def said_key(word: str, said: Reading | None = None) -> str | None:
    """A number whose letters and digits alone would be misread ("3.5" is not "35", "25%" and "$5"
    have a unit, "-5", "10K", "10:30", "9am") is keyed by how it is said: "three_point_five",
    "twenty_five_percent", "minus_five", "ten_thousand", "ten_thirty", "nine_a._m." (a letter said
    as a letter is the dictionary's "a."). So is a word said otherwise in its sentence than alone
    (`said`: "million" after "$3.5" is "million dollars"), "a.m."/"p.m.", and a word written with a unit,
    fraction, symbol or letter name ("10km" ten_kilometres, "#1" number_one, "π" pi)."""
    alone = spoken_readings([word])[0][0]
    said = alone if said is None else said
    parts = word.split()
    number = parse(parts[0]) if len(parts) == 1 else None
    misread = (number is not None and bool(number.currency or number.frac or number.suffix in ("%", "am", "pm")
                                           or number.sign or number.scale or number.minutes)
               or any(written_otherwise(p) for p in parts))  # "10km", "½", "#1", "π", "&", "10–20"
    if not said or not (misread or said != alone or (len(parts) == 1 and is_meridiem(parts[0]))):
        return None  # other numbers keep their digits: espeak-ng reads 2026 and 1st as speakers do
    return "_".join(unit + "." if len(unit) == 1 and unit.isalpha() else unit for unit in said)
