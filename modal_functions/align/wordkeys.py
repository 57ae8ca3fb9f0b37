"""Comparison keys for words: what is left of a word once case, accents and punctuation are gone.

Letters and digits of any script count (Unicode categories, `str.isalnum`), so a Cyrillic,
Greek or CJK word keeps a key and can be matched; accents are folded the usual way (NFKD,
then the non-spacing marks dropped), so "café" and "cafe" meet. A token with no letter or
digit at all (an emoji, "—", "&") has the empty key: it is not a word of its own.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Latin letters that NFKD does not take apart but that readers (and recognisers) write plainly.
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L",
                       "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i",
                       "\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def _kept(ch: str) -> bool:
    # Spacing marks (Mc) are vowel signs of Indic scripts: part of the spelling, not accents.
    return ch.isalnum() or ch == "'" or unicodedata.category(ch) == "Mc"


@lru_cache(maxsize=16384)
def word_key(word: str) -> str:
    """Lowercase (casefolded) letters, digits and inner apostrophes of any script, accents folded."""
    folded = unicodedata.normalize("NFKD", word.translate(_FOLD))
    return "".join(ch for ch in folded if _kept(ch)).casefold().strip("'")


@lru_cache(maxsize=16384)
def romanised(key: str) -> str:
    """A key in another script, transliterated to Latin letters (anyascii): "чайковский" -> "chaykovskiy",
    "σωκρατης" -> "sokratis"; a Latin key as it is. An English recogniser writes such a word in Latin letters
    ("Tchaikovsky"): compared romanised, the two are near spellings."""
    if key.isascii():
        return key
    from anyascii import anyascii

    return "".join(ch for ch in anyascii(key).lower() if ch.isalnum() or ch == "'")


def has_word(token: str) -> bool:
    """True when the token has a letter or digit (in any script), i.e. it is a word and not a symbol."""
    return bool(word_key(token))
