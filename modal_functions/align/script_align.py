"""Script-aware alignment: the narration script's own words, timed by what the recogniser heard.

The product made the speech from a script, so the captions should show the script
(its spelling, capitals and punctuation), not the recogniser's guesses. A global
sequence alignment (Needleman-Wunsch over normalised words, substitutions scored by
character similarity) pairs script words with recognised words. Paired words take the
recognised timings; runs of unpaired script words share the time between their
neighbours in proportion to their length, with a low confidence. The share of paired
script words is the match rate; below `FLAG_BELOW` the job is flagged.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

from .engines.base import Word

FLAG_BELOW = 0.6
INTERPOLATED_CONFIDENCE = 0.1
_MATCH_SIMILARITY = 0.5  # substitutions at least this similar count as a match (Canvascast ~ CanvasCast)
_FUZZY_MIN_LETTERS = 4  # ... when both words have at least this many letters; shorter ones must be equal
_GAP = 1.0

_NUMBERS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
    "8": "eight", "9": "nine", "10": "ten", "11": "eleven", "12": "twelve", "20": "twenty", "100": "hundred",
}


def normalise(word: str) -> str:
    """Lowercase letters and digits only (accents folded), small numbers spelled out."""
    folded = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    norm = re.sub(r"[^a-z0-9']", "", folded.lower()).strip("'")
    return _NUMBERS.get(norm, norm)


def script_words(script: str) -> list[str]:
    """The script split into caption words; punctuation stays attached to its word."""
    return [w for w in script.split() if normalise(w)]


@dataclass
class AlignedWord:
    text: str
    start: float
    end: float
    confidence: float
    matched: bool


@dataclass
class ScriptAlignment:
    words: list[AlignedWord]
    match_rate: float

    @property
    def flagged(self) -> bool:
        return self.match_rate < FLAG_BELOW


def _similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def pair(script: list[str], heard: list[str]) -> list[tuple[int, int]]:
    """Indices (i script, j heard) paired as matches.

    Exact runs (difflib's matching blocks, near-linear) anchor the alignment; the full
    dynamic programme only runs on the short stretches between anchors, so an hour of
    narration stays cheap.
    """
    pairs: list[tuple[int, int]] = []
    i0 = j0 = 0
    for block in SequenceMatcher(None, script, heard, autojunk=False).get_matching_blocks():
        pairs += [(i0 + a, j0 + b) for a, b in _pair_dp(script[i0 : block.a], heard[j0 : block.b])]
        pairs += [(block.a + k, block.b + k) for k in range(block.size)]
        i0, j0 = block.a + block.size, block.b + block.size
    return pairs


def _pair_dp(script: list[str], heard: list[str]) -> list[tuple[int, int]]:
    """Needleman-Wunsch over one stretch; substitutions cost by dissimilarity."""
    n, m = len(script), len(heard)
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    move = [[0] * (m + 1) for _ in range(n + 1)]  # 0 diagonal, 1 skip script, 2 skip heard
    for i in range(1, n + 1):
        cost[i][0], move[i][0] = i * _GAP, 1
    for j in range(1, m + 1):
        cost[0][j], move[0][j] = j * _GAP, 2
    sim_cache: dict[tuple[str, str], float] = {}
    for i in range(1, n + 1):
        a = script[i - 1]
        row, prev = cost[i], cost[i - 1]
        for j in range(1, m + 1):
            key = (a, heard[j - 1])
            sim = sim_cache.get(key)
            if sim is None:
                sim = sim_cache[key] = _similarity(*key)
            best, how = prev[j - 1] + 2.0 * (1.0 - sim), 0
            if prev[j] + _GAP < best:
                best, how = prev[j] + _GAP, 1
            if row[j - 1] + _GAP < best:
                best, how = row[j - 1] + _GAP, 2
            row[j], move[i][j] = best, how
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 or j > 0:
        how = move[i][j]
        if how == 0:
            if _is_match(script[i - 1], heard[j - 1]):
                pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif how == 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def _is_match(said: str, heard: str) -> bool:
    """Same word, or a near spelling of a word long enough for that to mean something:
    at 0.5 similarity the/house, in/on and to/go would pass and lend each other their times."""
    if said == heard:
        return True
    return min(len(said), len(heard)) >= _FUZZY_MIN_LETTERS and _similarity(said, heard) >= _MATCH_SIMILARITY


def align_script(script: str, heard: list[Word], duration: float) -> ScriptAlignment:
    words = script_words(script)
    if not words:
        return ScriptAlignment([], 0.0)
    pairs = pair([normalise(w) for w in words], [normalise(w.text) for w in heard])
    timed: list[AlignedWord | None] = [None] * len(words)
    heard_for: dict[int, int] = dict(pairs)
    for i, j in pairs:
        h = heard[j]
        timed[i] = AlignedWord(words[i], h.start, h.end, float(h.probability), True)
    _interpolate(words, timed, heard, heard_for, duration)
    out = [w for w in timed if w is not None]
    return ScriptAlignment(out, len(pairs) / len(words))


def _interpolate(words, timed, heard, heard_for, duration) -> None:
    """Fill each run of unmatched script words between its matched neighbours."""
    i = 0
    n = len(words)
    while i < n:
        if timed[i] is not None:
            i += 1
            continue
        k = i
        while k < n and timed[k] is None:
            k += 1
        left_j = heard_for.get(i - 1) if i > 0 else None
        right_j = heard_for.get(k) if k < n else None
        lo = timed[i - 1].end if i > 0 else (heard[0].start if heard and right_j != 0 else 0.0)
        hi = timed[k].start if k < n else (heard[-1].end if heard and left_j != len(heard) - 1 else duration)
        # Unmatched recognised words in between say where the unmatched script words were spoken.
        inner = heard[(left_j + 1 if left_j is not None else 0) : (right_j if right_j is not None else len(heard))]
        if inner:
            lo, hi = max(lo, inner[0].start), min(hi, inner[-1].end) if hi > inner[-1].end else hi
        if hi <= lo:
            hi = lo + 0.01 * (k - i)
        weights = [max(1, len(normalise(w))) for w in words[i:k]]
        total = float(sum(weights))
        t = lo
        for idx, wgt in zip(range(i, k), weights):
            step = (hi - lo) * wgt / total
            timed[idx] = AlignedWord(words[idx], t, t + step, INTERPOLATED_CONFIDENCE, False)
            t += step
        i = k
