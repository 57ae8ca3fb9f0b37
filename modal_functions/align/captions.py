"""Caption files from word timings: SRT and WebVTT cues of a few words each.

Words are grouped into cues of at most `max_words` words / `max_chars` columns (a Chinese or
Japanese character takes two, and characters written together count as one word). A
sentence end or a pause always ends a cue. Between those, the words are cut into as few
cues as the limits allow (the count greedy filling gives), and among the cuts with that
count the one that reads best is taken, the way subtitle style guides (BBC, Netflix) ask:
cut after a comma, colon or dash, or before a conjunction; never right after an article,
a preposition or a possessive ("the | moon"); no one-word orphan ("facing | it."); and
cues of even length rather than a full one and a stub.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..contract.align import Caption
from .wordkeys import spaces


@dataclass
class Cue:
    start: float  # seconds
    end: float
    text: str


# Cut costs (lower reads better). A cut is after word i, before word i + 1.
_AFTER_PUNCTUATION = 0.0
_BEFORE_CONJUNCTION = 0.5
_PLAIN = 1.5
_AFTER_GLUE = 4.0
_ORPHAN = 3.0  # a one-word cue in a run of more words
_RAGGED = 2.0  # times the sum of (unused share of max_chars)^2 over the run's cues

_CLAUSE_END = (",", ";", ":", "—", "–", "-", "…", "，", "、", "；", "：", "·")
_CONJUNCTIONS = frozenset(
    "and but or nor so yet because although though when whenever while where wherever which who whom whose "
    "that if unless until since as then than".split())
_GLUE = frozenset(
    "a an the of to in on at by for with from into onto over under about as per via "
    "my your our their his her its this these those".split())


def _bare(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum() or ch == "'")


def _cut_cost(word: Caption, following: Caption) -> float:
    if _core(word.text).endswith(_CLAUSE_END):
        return _AFTER_PUNCTUATION
    if _bare(word.text) in _GLUE or _abbreviation(word.text):  # "of | the", "Mrs. | Brown", "e.g. | after"
        return _AFTER_GLUE
    if _bare(following.text) in _CONJUNCTIONS:
        return _BEFORE_CONJUNCTION
    return _PLAIN


def _runs(words: list[Caption], pause_s: float) -> list[list[Caption]]:
    """Stretches no cue may span: a sentence end or a pause of `pause_s` ends one."""
    runs: list[list[Caption]] = []
    run: list[Caption] = []
    for k, w in enumerate(words):
        if run and (w.startMs - run[-1].endMs) / 1000 >= pause_s:
            runs.append(run)
            run = []
        run.append(w)
        if ends_sentence(w.text, words[k + 1].text if k + 1 < len(words) else None):
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return runs


def _split_run(run: list[Caption], max_words: int, max_chars: int) -> list[list[Caption]]:
    """Fewest cues within the limits, then the lowest cost (dynamic programming over cuts).

    A single word longer than `max_chars` makes a cue of its own.
    """
    n = len(run)
    widths = [_width(w.text.strip()) for w in run]
    spaced = _spaced(run)
    # best[j] = (cues, cost, start of the last cue) for the words before j; every j is
    # reachable, since a one-word last cue always fits
    best: list[tuple[int, float, int]] = [(0, 0.0, 0)]
    for j in range(1, n + 1):
        candidates = []
        chars = words = 0
        for i in range(j - 1, -1, -1):  # the last cue is run[i:j]
            chars += widths[i]
            words += 1
            if i < j - 1:  # run[i + 1] is inside the cue now: its space counts, or it joins run[i]
                chars += spaced[i + 1]
                words -= not spaced[i + 1]
            if (chars > max_chars or words > max_words) and i < j - 1:
                break
            cost = best[i][1] + _RAGGED * (max(0, max_chars - chars) / max_chars) ** 2
            if j - i == 1 and n > 1:
                cost += _ORPHAN
            if j < n:
                cost += _cut_cost(run[j - 1], run[j])
            candidates.append((best[i][0] + 1, cost, i))
        best.append(min(candidates, key=lambda c: c[:2]))
    out: list[list[Caption]] = []
    j = n
    while j > 0:
        i = best[j][2]
        out.append(run[i:j])
        j = i
    return out[::-1]


def cues(words: list[Caption], max_words: int = 7, max_chars: int = 42, pause_s: float = 0.6) -> list[Cue]:
    out: list[Cue] = []
    for run in _runs(words, pause_s):
        for group in _split_run(run, max_words, max_chars):
            text = "".join((" " if s else "") + w.text.strip() for w, s in zip(group, _spaced(group)))
            out.append(Cue(group[0].startMs / 1000, group[-1].endMs / 1000, text))
    return out


def _spaced(words: list[Caption]) -> list[bool]:
    """Whether a space comes before each word, from the captions' leading spaces (`wordkeys.spaces`)."""
    return spaces([w.text for w in words], [w.text.startswith(" ") for w in words])


def _width(text: str) -> int:
    """Columns the text takes on screen: a Chinese or Japanese character, or fullwidth punctuation, two; a
    combining mark (Thai vowels and tones, Devanagari signs, Arabic vowels) none, it sits on its letter."""
    return sum(0 if unicodedata.category(ch) in ("Mn", "Me") else
               2 if unicodedata.east_asian_width(ch) in "WF" and unicodedata.category(ch) != "So" else 1 for ch in text)


# Subtitle display timing (BBC/Netflix practice): a cue stays up at least this long when the
# next one leaves room, and a gap shorter than CLOSE_GAP_S between cues is closed, so the
# text does not flash off and on between phrases.
MIN_CUE_S = 0.8
CLOSE_GAP_S = 0.5


def for_display(items: list[Cue], until: float | None = None, *, min_s: float = MIN_CUE_S,
                close_gap_s: float = CLOSE_GAP_S) -> list[Cue]:
    """The cues as subtitle files show them: ends held on, never past the next cue's start
    nor `until` (the audio's end).

    Starts are untouched, so each cue still appears as its first word is spoken; the word
    timings themselves stay exact in the job result.
    """
    out: list[Cue] = []
    for k, c in enumerate(items):
        end = max(c.end, c.start + min_s)
        if k + 1 < len(items):
            nxt = items[k + 1].start
            end = nxt if nxt - end < close_gap_s else end  # a short gap closed, or held only up to the next cue
        elif until is not None:
            end = min(end, until)
        out.append(Cue(c.start, max(c.end, end), c.text))
    return out


_TRAILING = {"Pe", "Pf", "So", "Sk", "Sm", "Sc", "Mn", "Me", "Cf"}  # closers, emoji and their modifiers/joiners


def _core(text: str) -> str:
    """The word without what trails its punctuation: closing quotes and brackets, attached symbols."""
    core = text.rstrip()
    while core and (core[-1] in "\"'" or unicodedata.category(core[-1]) in _TRAILING):
        core = core[:-1].rstrip()
    return core


# Full stops, question and exclamation marks of the scripts narrations are written in: Latin,
# CJK (ideographic and fullwidth), Devanagari (danda), Arabic and Urdu, Armenian, Ethiopic,
# Myanmar, Khmer, and the double marks. Not the Greek question mark: Unicode normalises it to ";".
SENTENCE_ENDS = ".!?。！？｡．।॥؟۔։።။។‼⁇⁈⁉"


# Abbreviations whose full stop ends no sentence: titles before a name, and "e.g." and the like
# before what they introduce ("Dr. Jones", "e.g. after lunch"). Not "etc.", which often ends one.
ABBREVIATIONS = frozenset("mr mrs ms mx dr prof st mt vs e.g i.e cf approx ca".split())
_OPENERS = "\"'“‘«([{¿¡"


def _abbreviation(text: str) -> bool:
    core = _core(text)
    return core.endswith(".") and core.lower().lstrip(_OPENERS).rstrip(".") in ABBREVIATIONS


def ends_sentence(text: str, following: str | None = None) -> bool:
    """Ends in a full stop, ? or ! of any script (SENTENCE_ENDS), looking past closing quotes and brackets
    and attached symbols ("Done. 🎉", "“Yes.”", "这是月亮。", "क्या है?"). A full stop ends none after an
    abbreviation (ABBREVIATIONS) or before a lowercase word: "Mr. Smith", "U.S.A. is", "St. on Friday"."""
    core = _core(text)
    if not core or core[-1] not in SENTENCE_ENDS:
        return False
    if core[-1] not in ".．":
        return True
    if _abbreviation(core):
        return False
    first = next((ch for ch in following or "" if ch.isalpha()), "")
    return not first.islower()


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


# Draws as nothing and allows no line break: splits what a SubRip player would read as markup.
_WORD_JOINER = "\u2060"


def _srt_text(text: str) -> str:
    """SubRip cue text as written. SubRip has no escapes, and players read "<b>", "<i>", "<font ...>" as
    markup (ffmpeg drops any other "<...>", even "< b >"), "{\\i1}" and the like as override tags (ffmpeg
    drops every "{\\...}"), and a line holding "-->" as a timing line: a word joiner after each "<" and
    "{" and before the ">" of each "-->" keeps them text ("--->" too)."""
    return (text.replace("<", "<" + _WORD_JOINER).replace("{", "{" + _WORD_JOINER)
            .replace("-->", "--" + _WORD_JOINER + ">"))


def to_srt(items: list[Cue]) -> str:
    blocks = [f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{_srt_text(c.text)}\n" for i, c in enumerate(items, 1)]
    return "\n".join(blocks)


def _vtt_text(text: str) -> str:
    """WebVTT cue payload: & and < are markup, and "-->" may not appear at all."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(items: list[Cue]) -> str:
    blocks = [f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{_vtt_text(c.text)}\n" for c in items]
    return "WEBVTT\n\n" + "\n".join(blocks)
