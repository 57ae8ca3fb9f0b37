"""Comparison keys for words: what is left of a word once case, accents and punctuation are gone.

Letters and digits of any script count (Unicode categories, `str.isalnum`), so a Cyrillic,
Greek or CJK word keeps a key and can be matched; accents are folded the usual way (NFKD,
then the non-spacing marks dropped), so "café" and "cafe" meet. A token with no letter or
digit at all (an emoji, "—", "&") has the empty key: it is not a word of its own.
`unspaced` tells the letters of scripts written without spaces (Han, kana; Thai, Lao, Burmese, Khmer).
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


# Scripts written without spaces between words: Han (CJK ideographs, extensions A-G and the
# compatibility block), hiragana and katakana (full and halfwidth), and the iteration mark 々.
# Each such character is a word of its own, as Whisper times them.
_CHARACTER_WORDS = ((0x3005, 0x3005), (0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
                    (0xF900, 0xFAFF), (0xFF66, 0xFF9F), (0x20000, 0x3134F))
# Scripts also written without spaces, whose words only a dictionary finds (ICU's word break
# dictionaries, `script_align.pieces`): Thai, Lao, Myanmar (and its extensions A and B), Khmer (and its symbols).
_DICTIONARY_WORDS = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x19E0, 0x19FF), (0xA9E0, 0xA9FF),
                     (0xAA60, 0xAA7F))


def _within(ch: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    o = ord(ch)
    return ch.isalnum() and any(lo <= o <= hi for lo, hi in ranges)


def character_word(ch: str) -> bool:
    """A Chinese or Japanese letter (Han, kana): each such character is a caption word of its own."""
    return _within(ch, _CHARACTER_WORDS)


def dictionary_word(ch: str) -> bool:
    """A letter of Thai, Lao, Burmese or Khmer: written without spaces, its words are found by ICU's dictionaries."""
    return _within(ch, _DICTIONARY_WORDS)


def unspaced(ch: str) -> bool:
    """A letter of a script written without spaces between words (Chinese, Japanese, Thai, Lao, Burmese, Khmer)."""
    return character_word(ch) or dictionary_word(ch)


def joinable(left: str, right: str) -> bool:
    """Two words may stand without a space between them: a letter of a script written without spaces on
    either side of the join ("AI" + "は", "月" + "亮", "วัน" + "นี้"), looking past punctuation."""
    last = next((ch for ch in reversed(left) if ch.isalnum()), "")
    first = next((ch for ch in right if ch.isalnum()), "")
    return bool(last and first) and (unspaced(last) or unspaced(first))


def spaces(texts: list[str], written: list[bool]) -> list[bool]:
    """Whether a space stands before each word: none before the first; as `written` otherwise, except
    that only where a letter of an unspaced script meets its neighbour (`joinable`) may a word do
    without one (two Latin words a recogniser ran together stay apart)."""
    return [k > 0 and (written[k] or not joinable(texts[k - 1], texts[k])) for k in range(len(texts))]


def has_word(token: str) -> bool:
    """True when the token has a letter or digit (in any script), i.e. it is a word and not a symbol."""
    return bool(word_key(token))
