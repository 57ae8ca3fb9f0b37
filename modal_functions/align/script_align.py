"""Script-aware alignment: the narration script's own words, timed by what the recogniser heard.

The product made the speech from a script, so the captions should show the script
(its spelling, capitals and punctuation), not the recogniser's guesses. A global
sequence alignment (Needleman-Wunsch over normalised words, substitutions scored by
character similarity) pairs script words with recognised words. Paired words take the
recognised timings; runs of unpaired script words share the time between their
neighbours in proportion to their length, with a low confidence. The share of paired
script words is the match rate; below `FLAG_BELOW` the job is flagged.

Words are compared by their keys in any script (`wordkeys`), and as spoken: each side's
numbers become the words they are read as (`numbers`: "2026" -> twenty twenty six), so
the alignment runs on spoken units and a script word takes the span of its units. A
token with no letter or digit (an emoji, "—") rides along with the word before it."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import NamedTuple

from .engines.base import Word
from .numbers import NUMBER_WORDS, Reading, spoken_readings
from .wordkeys import character_word, dictionary_word, has_word, romanised, unspaced

FLAG_BELOW = 0.6
INTERPOLATED_CONFIDENCE = 0.1
_MATCH_SIMILARITY = 0.5  # substitutions at least this similar count as a match (Canvascast ~ CanvasCast)
_FUZZY_MIN_LETTERS = 4  # ... when both words have at least this many letters; shorter ones must be equal
_GAP = 1.0
_READING_SLACK = 8  # units either side of where a number should be when choosing how it was read
_FULL_DP_CELLS = 40_000  # a stretch between anchors up to ~200 x 200 units gets the full programme ...
_BAND_MARGIN = 16  # ... a bigger one (script and audio unrelated) a band this wide either side of its diagonal


def normalise(word: str) -> str:
    """The word as compared: letters and digits of any script, lowercased, accents folded; a number
    as its most likely spoken words ("10" -> "ten"); "" for a token with no letter or digit."""
    return " ".join(spoken_readings([word])[0][0])


def script_words(script: str) -> list[str]:
    """The script split into caption words. Punctuation stays attached to its word, and so does a
    token with no letter or digit ("—", "&", an emoji): it joins the word before it (the word after
    it at the very start), so everything the script says is in the captions and nothing is timed
    on its own. In scripts written without spaces each Han or kana character is a word, and each
    dictionary word of Thai, Lao, Burmese or Khmer (`pieces`)."""
    return [w for w, _ in script_tokens(script)]


def script_tokens(script: str) -> list[tuple[str, bool]]:
    """`script_words`, each with whether a space comes before it in the script (False for the
    characters of an unspaced script after the first of a run: captions join them without one)."""
    words: list[tuple[str, bool]] = []
    leading: list[str] = []
    for token in _SPACES.split(script):
        if not token:
            continue
        if has_word(token):
            first, *rest = pieces(token)
            words.append((" ".join(leading + [first]), True))
            words += [(piece, False) for piece in rest]
            leading = []
        elif words:
            words[-1] = (words[-1][0] + " " + token, words[-1][1])
        else:
            leading.append(token)
    return [(text, spaced) for text, spaced in ((visible(w), sp) for w, sp in words)]


# The whitespace the worker's scriptWords.ts splits a script on (JavaScript's \s): not Python's str.split(),
# which also splits at U+001C..U+001F and U+0085 but not at U+FEFF (a byte-order mark inside a script
# pasted together from files): split otherwise, the script's word k is not the worker's word k.
_SPACES = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+")
# Drawn as nothing: zero-width space, word joiner, soft hyphen, byte-order mark, and control characters.
_INVISIBLE = re.compile("[\u200b\u2060\u00ad\ufeff\x00-\x08\x0e-\x1f\x7f-\x9f]")
_JOINERS = "\u200c\u200d"  # zero-width (non-)joiners: spelling between two letters of Persian, Indic, emoji


def visible(word: str) -> str:
    """A caption word without the characters that draw as nothing: a script sent through the API keeps
    them (a BOM, zero-width spaces from a web editor), and in a caption they break search, copy and some
    players' line breaking. A zero-width (non-)joiner stays where it spells something, between two
    non-ASCII characters ("می\u200cخواهم", a family emoji), not at a word's edge nor in Latin text.
    Everything else of the script's spelling stays; cut only after the words are (the worker counts them
    with these characters in, `scriptWords.ts`)."""
    word = _INVISIBLE.sub("", word)
    if any(j in word for j in _JOINERS):
        word = "".join(ch for k, ch in enumerate(word) if ch not in _JOINERS or _joins(word, k))
    return " ".join(part for part in word.split(" ") if part)  # a token of them alone ("pulls \u200b") is gone


def _joins(word: str, k: int) -> bool:
    before, after = word[k - 1 : k], word[k + 1 : k + 2]
    return bool(before and after) and not (before.isspace() or after.isspace() or before.isascii() or after.isascii())


_OPENING = ("Ps", "Pi")
# Kana that are no syllable of their own: the long-vowel mark and the small kana that bend the one before.
_ATTACHED = frozenset("ーｰぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮｧｨｩｪｫｯｬｭｮ")


def pieces(token: str) -> list[str]:
    """One whitespace-free token as caption words: each character of Chinese or Japanese (Han, kana)
    is one (a small kana or the long-vowel mark stays with the one before: "ジャー"), each dictionary
    word of Thai, Lao, Burmese or Khmer another (ICU's word breaks, `_units`: "วันนี้เรา" -> "วัน",
    "นี้", "เรา"), a run of other letters and digits another ("AIは便利。" -> "AI", "は", "便", "利。").
    Punctuation stays with the word before it, opening brackets and quotes with the one after
    ("「はい。」" -> "「は", "い。」"). A token without such letters is one word, as it is.
    The pieces joined are the token."""
    if not any(unspaced(ch) for ch in token):
        return [token]
    out: list[str] = []
    pending = ""  # opening punctuation waiting for its word
    in_run = False  # the last word is a run of spaced-script letters that the next such letter continues
    for unit in _units(token):
        if character_word(unit[0]):
            if unit in _ATTACHED and out and not pending:
                out[-1] += unit
            else:
                out.append(pending + unit)
            pending, in_run = "", False
        elif any(dictionary_word(ch) for ch in unit):
            out.append(pending + unit)
            pending, in_run = "", False
        elif has_word(unit):
            if in_run and not pending:
                out[-1] += unit
            else:
                out.append(pending + unit)
                pending = ""
            in_run = True
        elif out and not pending and unicodedata.category(unit[0]) not in _OPENING:
            out[-1] += unit
        else:
            pending += unit
    if pending:
        out[-1:] = [(out[-1] if out else "") + pending]
    return out


def _units(token: str) -> list[str]:
    """What `pieces` walks: the token's characters, or, where it has letters of Thai, Lao, Burmese or
    Khmer, the segments of ICU's word breaker (the worker's `Intl.Segmenter` is the same ICU), the
    segments of Chinese or Japanese in it still one character each."""
    if not any(dictionary_word(ch) for ch in token):
        return list(token)
    from icu4py.breakers import WordBreaker

    return [u for seg in WordBreaker(token, "und") for u in (list(seg) if any(map(character_word, seg)) else [seg])]


def regroup(heard: list[Word]) -> list[Word]:
    """Recognised words of Thai, Lao, Burmese or Khmer as that script's dictionary words (`pieces`).
    Whisper words these scripts by token ("สวัส", "ดีครับ"): a run of such words written without a
    space between them is joined, each character timed by its word's span shared by length, and cut
    again where `pieces` cuts the script, so script and speech meet word by word. Other words as they are."""
    out: list[Word] = []
    k = 0
    while k < len(heard):
        if not any(dictionary_word(ch) for ch in heard[k].text):
            out.append(heard[k])
            k += 1
            continue
        run = [heard[k]]
        while k + len(run) < len(heard) and not heard[k + len(run)].spaced:
            run.append(heard[k + len(run)])
        k += len(run)
        times = [t for w in run for t in _shares(w.start, w.end, list(w.text))]  # one span a character
        probability = [w.probability for w in run for _ in w.text]
        at = 0
        for n, part in enumerate(pieces("".join(w.text for w in run))):
            out.append(Word(part, times[at][0], times[at + len(part) - 1][1], probability[at],
                            spaced=run[0].spaced and not n))
            at += len(part)
    return out


def split_heard(heard: list[Word]) -> list[Word]:
    """Recognised words as the script's words are cut (`pieces`): a recogniser's "月亮" becomes "月" and
    "亮", sharing its time by length, so each script character can pair with one heard character; runs
    of Thai, Lao, Burmese or Khmer are cut into dictionary words (`regroup`)."""
    out: list[Word] = []
    for w in regroup(heard):
        parts = [w.text] if any(map(dictionary_word, w.text)) else pieces(w.text)  # regroup cut those already
        if len(parts) == 1:
            out.append(w)
            continue
        out += [Word(part, s, e, w.probability, spaced=w.spaced and not k)
                for k, (part, (s, e)) in enumerate(zip(parts, _shares(w.start, w.end, parts)))]
    return out


def _shares(start: float, end: float, parts: list[str]) -> list[tuple[float, float]]:
    """The span start..end cut among the parts in proportion to their lengths."""
    total, done, out = sum(len(p) for p in parts), 0, []
    for part in parts:
        s = start + (end - start) * done / total
        done += len(part)
        out.append((s, start + (end - start) * done / total))
    return out


@dataclass
class AlignedWord:
    text: str
    start: float
    end: float
    confidence: float
    matched: bool
    spaced: bool = True  # a space comes before it in the script (`script_tokens`)


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
    if a.isascii() != b.isascii():  # "чайковский" / "tchaikovsky": compared in Latin letters
        a, b = romanised(a), romanised(b)
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def pair(script: list[str], heard: list[str]) -> list[tuple[int, int]]:
    """Indices (i script, j heard) paired as matches.

    Exact runs (difflib's matching blocks, near-linear) anchor the alignment; the full
    dynamic programme only runs on the short stretches between anchors, so an hour of
    narration stays cheap.
    """
    pairs: list[tuple[int, int]] = []
    i0 = j0 = 0
    for block in _matching_blocks(script, heard):
        pairs += [(i0 + a, j0 + b) for a, b in _pair_dp(script[i0 : block.a], heard[j0 : block.b])]
        pairs += [(block.a + k, block.b + k) for k in range(block.size)]
        i0, j0 = block.a + block.size, block.b + block.size
    return pairs


def _matching_blocks(a: list[str], b: list[str]):
    return SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()


def _exact_runs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Only the anchors of `pair`: (i, j) inside runs of equal words."""
    return [(blk.a + k, blk.b + k) for blk in _matching_blocks(a, b) for k in range(blk.size)]


def _band(n: int, m: int) -> list[tuple[int, int]]:
    """For each row i (0..n) of the stretch's table, the columns [lo, hi] the programme fills.

    Every column while the table is small (all stretches of a script that fits its audio: equal
    words are anchors, so what is left between them is short). A big table means the script and
    the audio share next to nothing (a wrong narration, another language); then only a band of
    `_BAND_MARGIN` columns either side of the stretch's diagonal (j = i*m/n, whatever the
    lengths) is filled, so the work is O((n + m) * margin) instead of O(n * m)."""
    if n * m <= _FULL_DP_CELLS:
        return [(0, m)] * (n + 1)
    return [(max(0, i * m // n - _BAND_MARGIN), min(m, -(-(i + 1) * m // n) + _BAND_MARGIN)) for i in range(n + 1)]


def _pair_dp(script: list[str], heard: list[str]) -> list[tuple[int, int]]:
    """Needleman-Wunsch over one stretch; substitutions cost by dissimilarity.

    Row i's cells are kept from its band's first column `lo` (`_band`); a cell outside the band
    costs infinity. Each row's band starts no earlier than the one before and reaches at least
    one column past where the next starts, so (n, m) is always reached."""
    n, m = len(script), len(heard)
    inf = float("inf")
    band = _band(n, m)
    prev, (plo, phi) = [j * _GAP for j in range(band[0][1] + 1)], band[0]
    moves = [[2] * len(prev)]  # per row, from its band's lo: 0 diagonal, 1 skip script, 2 skip heard
    sim_cache: dict[tuple[str, str], float] = {}
    for i in range(1, n + 1):
        a = script[i - 1]
        lo, hi = band[i]
        row, move = [inf] * (hi - lo + 1), [0] * (hi - lo + 1)
        for j in range(lo, hi + 1):
            if j == 0:
                row[0], move[0] = i * _GAP, 1
                continue
            best, how = inf, 0
            if plo <= j - 1 <= phi:
                key = (a, heard[j - 1])
                sim = sim_cache.get(key)
                if sim is None:
                    sim = sim_cache[key] = _similarity(*key)
                best = prev[j - 1 - plo] + 2.0 * (1.0 - sim)
            if plo <= j <= phi and prev[j - plo] + _GAP < best:
                best, how = prev[j - plo] + _GAP, 1
            if j > lo and row[j - 1 - lo] + _GAP < best:
                best, how = row[j - 1 - lo] + _GAP, 2
            row[j - lo], move[j - lo] = best, how
        moves.append(move)
        prev, plo, phi = row, lo, hi
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 or j > 0:
        how = moves[i][j - band[i][0]]
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
    at 0.5 similarity the/house, in/on and to/go would pass and lend each other their times.
    Number words only match themselves (fifteen/fifty, seventeen/seventy are near spellings)."""
    if said == heard:
        return True
    if said in NUMBER_WORDS or heard in NUMBER_WORDS:
        return False
    if said.isascii() != heard.isascii():
        said, heard = romanised(said), romanised(heard)
    return min(len(said), len(heard)) >= _FUZZY_MIN_LETTERS and _similarity(said, heard) >= _MATCH_SIMILARITY


class _Span(NamedTuple):
    start: float
    end: float
    confidence: float
    matched: bool


def align_script(script: str, heard: list[Word], duration: float,
                 speech: list[tuple[float, float]] | None = None) -> ScriptAlignment:
    """The script's words, each timed from the recognised words it pairs with.

    Both sides are aligned as spoken units: a word is one unit, a number the words it is
    read as ("2026" -> twenty twenty six). A script word spans its units (first start, last
    end) and counts as matched when all of them matched. `speech`: the VAD's speech (start,
    end seconds), where unmatched words are put (`_interpolate`).
    """
    tokens = script_tokens(script)
    words = [w for w, _ in tokens]
    if not words:
        return ScriptAlignment([], 0.0)
    heard = split_heard(heard)
    said, got = choose_readings(spoken_readings(words), spoken_readings([w.text for w in heard]))
    said_keys, owner = _flatten(said)
    heard_keys, _ = _flatten(got)
    spans = _time_units(said_keys, _heard_spans(heard, got), pair(said_keys, heard_keys), duration, speech)
    out = _per_word(words, owner, spans)
    for word, (_, spaced) in zip(out, tokens):
        word.spaced = spaced
    return ScriptAlignment(out, sum(w.matched for w in out) / len(words))


def choose_readings(said: list[list[Reading]], heard: list[list[Reading]]) -> tuple[list[Reading], list[Reading]]:
    """One reading per token on each side.

    The first (most likely) readings are paired by their exact runs (the anchors of `pair`, near
    linear); a number on either side that could be read several ways and is not all inside a
    run then takes the reading that best matches the other side's units where it stands
    (between the runs around it). Only then does the full alignment run, once.
    """
    first_said, first_heard = [r[0] for r in said], [r[0] for r in heard]
    if all(len(r) == 1 for r in said) and all(len(r) == 1 for r in heard):
        return first_said, first_heard
    said_keys, _ = _flatten(first_said)
    heard_keys, _ = _flatten(first_heard)
    pairs = _exact_runs(said_keys, heard_keys)
    return (_best_readings(said, heard_keys, pairs),
            _best_readings(heard, said_keys, [(j, i) for i, j in pairs]))


def _best_readings(options: list[list[Reading]], other: list[str], pairs: list[tuple[int, int]]) -> list[Reading]:
    """`pairs`: (own unit, other unit) inside the exact runs of every token's first reading."""
    chosen = [r[0] for r in options]
    own = [i for i, _ in pairs]
    n_units = sum(len(r) for r in chosen)
    a = 0
    for t, readings in enumerate(options):
        b = a + len(readings[0])
        lo, hi = bisect_left(own, a), bisect_left(own, b)
        if len(readings) > 1 and hi - lo < b - a:  # could be read otherwise, and did not fully match
            before = pairs[lo - 1] if lo else (-1, -1)
            after = pairs[hi] if hi < len(pairs) else (n_units, len(other))
            window = _window(other, a, before, after, max(len(r) for r in readings))
            scores = [_reading_score(r, window, first=not k) for k, r in enumerate(readings)]
            chosen[t] = readings[scores.index(max(scores))]
        a = b
    return chosen


def _window(other: list[str], at: int, before: tuple[int, int], after: tuple[int, int], size: int) -> list[str]:
    """The other side's units where own unit `at` should be: between the matched pairs `before` and
    `after`, at the same relative place, `size` units plus some slack (a long unmatched stretch stays cheap)."""
    (own_left, left), (own_right, right) = before, after
    where = (at - own_left - 1) / max(1, own_right - own_left - 1)
    centre = left + 1 + int(where * (right - left - 1))
    return other[max(left + 1, centre - _READING_SLACK) : min(right, centre + size + _READING_SLACK)]


def _reading_score(reading: Reading, window: list[str], first: bool = False) -> float:
    """Units matched in order, less half a point per unit left unmatched. Another reading must match
    something to replace the first (ties keep the first: `max` returns the earliest)."""
    common = _common_in_order(reading, window)
    if common == 0 and not first:
        return float("-inf")
    return common - 0.5 * (len(reading) - common)


def _common_in_order(a: Reading, b: list[str]) -> int:
    """Length of the longest common subsequence (exact words)."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _flatten(readings: list[Reading]) -> tuple[list[str], list[int]]:
    """The units in order, and for each the index of the token it belongs to."""
    keys: list[str] = []
    owner: list[int] = []
    for i, r in enumerate(readings):
        keys += r
        owner += [i] * len(r)
    return keys, owner


def _heard_spans(heard: list[Word], readings: list[Reading]) -> list[_Span]:
    """One span per heard unit: a word read as several units ("2026") shares its time among them by length."""
    return [_Span(s, e, float(w.probability), True)
            for w, units in zip(heard, readings) for s, e in _shares(w.start, w.end, units)]


def _time_units(keys: list[str], heard: list[_Span], pairs: list[tuple[int, int]], duration: float,
                speech: list[tuple[float, float]] | None = None) -> list[_Span]:
    timed: list[_Span | None] = [None] * len(keys)
    for i, j in pairs:
        timed[i] = heard[j]
    _interpolate(keys, timed, heard, dict(pairs), duration, speech)
    return timed  # type: ignore[return-value]  # every unit is timed now


def _per_word(words: list[str], owner: list[int], spans: list[_Span]) -> list[AlignedWord]:
    """Each script word from its units: first start, last end, the least confidence; matched when all are."""
    mine: list[list[_Span]] = [[] for _ in words]
    for i, span in zip(owner, spans):
        mine[i].append(span)
    return [AlignedWord(text, s[0].start, s[-1].end, min(u.confidence for u in s), all(u.matched for u in s))
            for text, s in zip(words, mine)]


_SPEECH_PER_UNIT_S = 0.05  # a run is spread over the speech in its interval when there is this much a unit


def _interpolate(keys: list[str], timed: list[_Span | None], heard: list[_Span], heard_for: dict[int, int],
                 duration: float, speech: list[tuple[float, float]] | None = None) -> None:
    """Fill each run of unmatched script units between its matched neighbours, in proportion to their length.

    With the VAD's `speech` (seconds): a run at the end reaches the last speech, and a run at the start
    the first, though the recogniser heard nothing there (Whisper can stop seconds before the speech
    does); and a run is spread over the speech inside its interval, not over its silences, where there
    is enough of it."""
    i = 0
    n = len(keys)
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
        # Unmatched recognised units in between say where the unmatched script units were spoken.
        inner = heard[(left_j + 1 if left_j is not None else 0) : (right_j if right_j is not None else len(heard))]
        if inner:
            lo, hi = max(lo, inner[0].start), min(hi, inner[-1].end) if hi > inner[-1].end else hi
        if speech:
            if k == n and speech[-1][1] > hi:
                hi = min(duration, speech[-1][1])
            if i == 0 and speech[0][0] < lo:
                lo = max(0.0, speech[0][0])
        if hi <= lo:
            # No room between its neighbours (put end to end, or heard overlapping): the run takes none, at the
            # right neighbour's start but not before the left one's. Spread past it, a script word of unmatched
            # units and a matched one ("5%": "five", "percent") started after it ended.
            hi = max(hi, timed[i - 1].start) if i > 0 else hi
            lo = hi = min(hi, timed[k].end) if k < n else hi
        weights = [max(1, len(key)) for key in keys[i:k]]
        total = float(sum(weights))
        place = _over_speech(lo, hi, speech, k - i)
        done = 0.0
        for idx, wgt in zip(range(i, k), weights):
            start = place(done / total, after=True)
            done += wgt
            timed[idx] = _Span(start, place(done / total, after=False), INTERPOLATED_CONFIDENCE, False)
        i = k


def _over_speech(lo: float, hi: float, speech: list[tuple[float, float]] | None, units: int):
    """A map from a share (0..1) of a run to a time in lo..hi, counting only the speech in between when
    there is at least `_SPEECH_PER_UNIT_S` of it a unit (else all of lo..hi). `after`: a share that
    falls on a silence is its end (a unit's start), else the speech's end before it (a unit's end)."""
    pieces = [(max(a, lo), min(b, hi)) for a, b in speech or [] if min(b, hi) > max(a, lo)]
    if sum(b - a for a, b in pieces) < _SPEECH_PER_UNIT_S * units:
        pieces = [(lo, hi)]
    total = sum(b - a for a, b in pieces)

    def place(share: float, *, after: bool) -> float:
        left = share * total
        for n, (a, b) in enumerate(pieces):
            if left < b - a or (left <= b - a and (not after or n == len(pieces) - 1)):
                return a + left
            left -= b - a
        return pieces[-1][1]

    return place
