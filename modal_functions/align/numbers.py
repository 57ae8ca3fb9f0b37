"""Numbers as they are spoken, so "in 2026" and "in twenty twenty-six" are the same words.

The script and the recogniser each write a number either way ("3.5 million" / "three
point five million", "25%" / "twenty five percent", "1st" / "first"), so both sides are
compared as spoken words. `spoken_readings` turns every token into its readings: the
sequences of word keys a speaker may say for it, the most likely first. An ordinary word
has one reading (its key); a number may have several (a year: "twenty twenty six", "two
thousand twenty six", "two thousand and twenty six"). Spelled-out numbers joined by
hyphens ("twenty-six", "twenty-first"), and hyphenated tokens with a number in them
("COVID-19"), are said part by part.

Cardinals, ordinals and years come from num2words; the rest (decimals, percent,
currency, decades, signs, clock times, "10K"/"$2M" magnitudes) is put together here.
Clock times are said hour then minutes ("10:30" ten thirty, "10:05" ten oh five, "10:00"
ten o'clock), or past and to the hour ("10:15" quarter past ten, "10:30" half past ten, "10:40" twenty
to eleven, "10:17" seventeen minutes past ten); "a.m."/"p.m." (and "am"/"pm" right after a number) are said as the letters
("a m"), however they are written ("9am", "9 a.m.", "9 AM"). The British "10.30" is a clock
time before "am"/"pm" ("10.30pm", "10.30 p.m.") and first after "at", "by", "from", "until"
or "till"; elsewhere it is a decimal. Ranges are said with "to" ("10–20"), fractions as fractions
("½" a half, "3/4" three quarters; "24/7" number by number), "5s" as seconds ("30s" a decade first),
and an amount with a unit, symbol or prefix ("10km", "~5", "#1") with the words `units` gives it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import islice, product
from typing import NamedTuple

from num2words import num2words

from . import units
from .wordkeys import word_key

Reading = tuple[str, ...]


class Number(NamedTuple):
    currency: str  # "$", "£", "€" or ""
    whole: str  # the integer part as written, thousands commas and all ("" in ".5"); a clock's hour
    frac: str  # digits after the point
    suffix: str  # "%", "st"/"nd"/"rd"/"th", "s"/"'s", "am"/"pm" or ""
    sign: str = ""  # "-" or "+"
    scale: str = ""  # "k", "mn", "b", "bn", "t", "tn" ("10K", "5bn"); "M" or "m" as written ("$2M", "2m")
    minutes: str = ""  # a clock time's two digits after the colon ("10:30")


_NUMBER = re.compile(
    r"(?P<sign>[-+\u2212])?(?P<currency>[$£€])?(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d+))?"
    r"(?:(?P<scale>bn|mn|tn|[kmbt])(?![a-z]))?(?P<suffix>%|st|nd|rd|th|'?s)?",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"(?P<hour>\d{1,2})(?:(?P<sep>[:.])(?P<minutes>\d\d))?(?:(?P<half>[ap])\.?m\.?)?", re.IGNORECASE)
_BEFORE_CLOCK = frozenset({"at", "by", "until", "till", "from"})  # "at 10.30": the British clock, not ten point three
_MERIDIEM = {"a.m": "am", "p.m": "pm"}  # written with dots: only ever the time of day
_OPENING = "\"'“‘«([{¿¡"
_CLOSING = "\"'”’»)]}.,;:!?…"
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_UNITS = {"$": ("dollar", "dollars", "cents"), "£": ("pound", "pounds", "pence"), "€": ("euro", "euros", "cents")}
_SIGNS = {"-": [("minus",), ("negative",), ()], "+": [("plus",), ()]}  # () last: the "-" may be a dash
_SCALES = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion", "t": "trillion",
           "tn": "trillion"}
SCALES = frozenset({"hundred", "thousand", "million", "billion", "trillion"})
_MAX_CARDINAL_DIGITS = 15  # longer runs of digits (codes, phone numbers) are read digit by digit
_MAX_READINGS = 6
_FRACTION = re.compile(r"(?P<n>\d+)[/\u2044](?P<d>\d+)")
_DASHES = re.compile("[\u2013\u2014]")  # en and em dash: never inside a word ("10–20", "fast—really")
_FRACTION_NAMES = {2: ("half", "halves"), 4: ("quarter", "quarters")}

NUMBER_WORDS = frozenset(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "billion trillion first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth fortieth "
    "fiftieth sixtieth seventieth eightieth ninetieth hundredth thousandth millionth billionth "
    "tens teens twenties thirties forties fifties sixties seventies eighties nineties hundreds thousands".split()
)
"""Words that only ever say a number: they must match exactly (fifteen is not fifty)."""
_BEFORE_MERIDIEM = NUMBER_WORDS | {"o'clock"}  # "nine am", "ten o'clock pm": the time of day


def spoken_readings(tokens: list[str]) -> list[list[Reading]]:
    """For each token, its readings (most likely first); a symbol-only token has the one empty reading.

    A currency amount followed by a scale word ("$3.5 million") is said with the unit
    after the scale ("three point five million dollars"), so the unit moves to that token.
    The recogniser may write apart what a script writes together ("$" "5", "25" "%"): a
    lone currency sign is read with the amount after it, a lone "%" as "percent".
    """
    tokens = list(tokens)
    for i in range(len(tokens) - 1):
        sign, amount = tokens[i].strip(), parse(tokens[i + 1])
        if sign in _UNITS and amount and not amount.currency and not amount.sign and not amount.minutes:
            tokens[i], tokens[i + 1] = "", sign + tokens[i + 1].strip()
    out = [list(_token_readings(t)) for t in tokens]  # cached lists: copied, never changed in place
    for i in range(len(tokens) - 1):
        amount, scale = parse(tokens[i]), word_key(tokens[i + 1])
        if amount and amount.currency and not amount.suffix and not amount.scale and scale in SCALES - {"hundred"}:
            out[i] = _signed(_decimal_readings(amount.whole, amount.frac), amount.sign)
            out[i + 1] = [(scale, _UNITS[amount.currency][1])]
        elif scale in ("am", "pm") and _said_as_number(tokens[i]):
            out[i + 1] = _meridiem(scale)  # "9 AM", "nine pm": the time of day, not "I am"
            if (clock := _dotted_clock(tokens[i])) is not None:
                out[i] = clock  # "10.30 pm": ten thirty
    for i in range(1, len(tokens)):
        if word_key(tokens[i - 1]) in _BEFORE_CLOCK and (clock := _dotted_clock(tokens[i])) is not None:
            out[i] = _unique(clock + out[i])[:_MAX_READINGS]  # "at 10.30": ten thirty first
        elif _said_as_number(tokens[i - 1]) and (unit := units.unit_readings(
                _spelled_core(tokens[i]), one=word_key(tokens[i - 1]) in ("1", "one"), alone=True)) is not None:
            out[i] = unit  # "10 km", "ten km": kilometres
    return out


def _dotted_clock(token: str) -> list[Reading] | None:
    """"10.30" as a time of day (British "10.30" is "10:30"): its clock readings, else None."""
    number = parse(token)
    if (number is None or number.currency or number.sign or number.scale or number.suffix or len(number.frac) != 2
            or not number.whole.isdigit() or int(number.whole) > 24 or int(number.frac) > 59):
        return None
    return _clock_readings(str(int(number.whole)), number.frac, "")


def _said_as_number(token: str) -> bool:
    number = parse(token)
    return (number is not None and not number.suffix) or word_key(token) in _BEFORE_MERIDIEM


def _meridiem(key: str) -> list[Reading]:
    return [(key[0], "m"), (key,)]


@lru_cache(maxsize=16384)
def _token_readings(token: str) -> list[Reading]:
    if len(token.split()) > 1:  # a caption word with symbols attached: "25 %", "day 🚀"
        return _joined(spoken_readings(token.split()))
    parsed = parse(token)
    if parsed is not None:
        return ("'" not in token and _seconds_or_decade(parsed)) or number_readings(*parsed)  # "'80s": a decade
    if is_meridiem(token):
        return _meridiem(_MERIDIEM[_core(token).lower()])
    spoken = _spelled_out(token)
    if spoken is not None:
        return spoken
    if _DASHES.search(token):
        parts = [p for p in _DASHES.split(token) if p]
        return _range(parts) or _joined([_token_readings(p) for p in parts])  # "10–20"; "fast—really": two words
    if "-" in token:
        parts = [p for p in token.split("-") if p]
        if parts and (any(parse(p) for p in parts) or all(word_key(p) in NUMBER_WORDS for p in parts)):
            return _range(parts) or _joined([_token_readings(p) for p in parts])  # "twenty-six", "COVID-19", "mid-2020s"
    key = word_key(token)
    return [(key,)] if key else list(units.SYMBOLS.get(token.strip(), [()]))


def written_otherwise(token: str) -> bool:
    """A token that is not a number (`parse`) and is said otherwise than its letters and digits read:
    a unit, fraction, symbol, range, Greek letter or abbreviation ("10km", "½", "&", "10–20", "π", "e.g.")."""
    return parse(token) is None and _token_readings(token)[0] not in ((), (word_key(token),))


def _spelled_core(token: str) -> str:
    """`_core`, but "²", "³" and "½"-like fractions are kept as written (NFKC would make them digits)."""
    kept = "".join(ch if ch in "²³" or unicodedata.decomposition(ch).startswith("<fraction>")
                   else unicodedata.normalize("NFKC", ch) for ch in token.replace("\u2019", "'"))
    return kept.strip().lstrip(_OPENING).rstrip(_CLOSING)


def _spelled_out(token: str) -> list[Reading] | None:
    """Readings of what is written with units, fractions, powers or symbols ("10km", "20°C", "½", "3/4",
    "x²", "~5", "#1", "π", "e.g."), the written form itself last; None for anything else."""
    core = _spelled_core(token)
    found: list[Reading] | None = None
    if (fraction := _fraction(core)) is not None:
        found = fraction
    elif core[:1] in units.PREFIXES and (parse(core[1:]) or units.split_amount(core[1:])):
        found = _joined([units.PREFIXES[core[0]], _token_readings(core[1:])])  # "~5": about five
    elif (amount := units.split_amount(core)) is not None:
        written, unit = amount
        said = units.unit_readings(unit, one=written.lstrip("+-\u2212$£€") == "1")
        found = _joined([_token_readings(written), said or [()]])  # "10km": ten kilometres
    elif (power := units.power_of(core)) is not None:
        base, said = power
        found = units.unit_readings(core, one=False) or _joined([_token_readings(base), [said]])  # "m²"; "x²": x squared
    else:
        found = units.letter_name(core) or units.abbreviation(word_key(core))
    if found is None:
        return None
    key = word_key(core)
    return _unique(found[:_MAX_READINGS] + ([(key,)] if key else []))


def _fraction(core: str) -> list[Reading] | None:
    """"½", "1½", "3/4", "24/7": as fractions are said ("a half", "one and a half", "three quarters"); a
    slash between numbers that are no fraction anyone says ("24/7", "9/11") is read number by number."""
    whole = ""
    # isdecimal, not isdigit: a superscript "²" is a digit that int() refuses ("²½")
    if core and unicodedata.decomposition(core[-1]).startswith("<fraction>") and (core[:-1].isdecimal() or not core[:-1]):
        whole = core[:-1]
        n, d = (int(x) for x in unicodedata.normalize("NFKC", core[-1]).split("\u2044"))
    elif (m := _FRACTION.fullmatch(core)) is not None:
        n, d = int(m["n"]), int(m["d"])
    else:
        return None
    found = _fraction_readings(n, d)
    if whole:
        found = [w + ("and",) + f for w in _integer_readings(whole) for f in found]  # "1½": one and a half
    return found


def _fraction_readings(n: int, d: int) -> list[Reading]:
    said_n, said_d = _cardinals(n)[0], _cardinals(d)[0]
    if not (2 <= d <= 10 and 0 < n < d):
        return [said_n + said_d, said_n + ("over",) + said_d, said_n + ("out", "of") + said_d]
    one, many = _FRACTION_NAMES.get(d) or (_ordinal_readings(str(d))[0][-1],) * 2
    if d not in _FRACTION_NAMES:
        many += "s"
    if n == 1:
        found = [("a", one), ("one", one)] + ([(one,)] if d == 2 else [])
    else:
        found = [said_n + (many,)]
    if d == 4:
        found += [r[:-1] + (("fourth",) if n == 1 else ("fourths",)) for r in found]
    out_of, over = said_n + ("out", "of") + said_d, said_n + ("over",) + said_d
    return [out_of] + found + [over] if d == 10 else found + [out_of, over]  # "8/10": eight out of ten first


def _range(parts: list[str]) -> list[Reading] | None:
    """"10-20", "10–20": ten to twenty (or ten twenty); None unless both ends are plain numbers, the first
    the smaller ("10-5" is a score: ten five)."""
    ends = [parse(p) for p in parts]
    if len(parts) != 2 or not all(e and not e.sign and not e.minutes and e.whole for e in ends):
        return None
    if float(ends[0].whole.replace(",", "")) >= float(ends[1].whole.replace(",", "")):  # type: ignore[union-attr]
        return None
    a, b = (_token_readings(p) for p in parts)
    return _unique(_joined([a, [("to",)], b]) + _joined([a, b]) + _joined([a, [("through",)], b]))[:_MAX_READINGS]


def _seconds_or_decade(number: Number) -> list[Reading] | None:
    """"5s" five seconds; "30s" the thirties, or thirty seconds; None when no "s" is written."""
    if number.suffix != "s" or number.currency or number.sign or len(number.whole) > 3:
        return None  # "1990s": only ever a decade
    seconds = [r + ("seconds",) for r in _integer_readings(number.whole)]
    decades = number_readings(*number)
    decade_like = number.whole.endswith("0") and len(number.whole.replace(",", "")) in (2, 4)
    return _unique(decades + seconds if decade_like else seconds + decades)[:_MAX_READINGS]


def _joined(parts: list[list[Reading]]) -> list[Reading]:
    """Readings of parts said one after the other: every first reading first, a few combinations at most."""
    return _unique([sum(r, ()) for r in islice(product(*parts), 4 * _MAX_READINGS)])[:_MAX_READINGS]


def parse(token: str) -> Number | None:
    """The number a token writes ("$3.50", "25%", "1st", "(2026),", "-5", "10K", "$2M", "10:30", "9am"),
    else None."""
    core = _core(token)
    clock = _CLOCK.fullmatch(core)
    if clock and (clock["minutes"] or clock["half"]) and (clock["sep"] != "." or clock["half"]):  # "10.30am"; "10.30" alone is a decimal
        hour, minutes = int(clock["hour"]), clock["minutes"] or ""
        if hour > (12 if clock["half"] else 24) or int(minutes or 0) > 59:
            return None  # "3:75", "14pm": not a time of day
        return Number("", clock["hour"], "", (clock["half"] + "m").lower() if clock["half"] else "", minutes=minutes)
    m = _NUMBER.fullmatch(core)
    if not m or not (m["int"] or m["frac"]):
        return None
    currency, suffix, scale = m["currency"] or "", (m["suffix"] or "").lower(), m["scale"] or ""
    if (currency and suffix) or (suffix not in ("", "%") and m["frac"]) or (scale and suffix):
        return None  # "$5%", "3.5th", "5Ms": not a number anyone says
    sign = "-" if m["sign"] == "\u2212" else m["sign"] or ""
    return Number(currency, m["int"] or "", m["frac"] or "", suffix, sign, scale if scale in ("m", "M") else scale.lower())


def is_meridiem(token: str) -> bool:
    """"a.m." or "p.m." (with their dots: "am" alone is a word too)."""
    return _core(token).lower() in _MERIDIEM


def _core(token: str) -> str:
    """The token without quotes, brackets and trailing punctuation, compatibility forms folded (NFKC)."""
    return unicodedata.normalize("NFKC", _spelled_core(token))


@lru_cache(maxsize=4096)
def number_readings(currency: str, whole: str, frac: str, suffix: str, sign: str = "", scale: str = "",
                    minutes: str = "") -> list[Reading]:
    """Readings of a parsed number: most likely first, at most a few (shared: do not change the list)."""
    if minutes or suffix in ("am", "pm"):
        found = _clock_readings(whole, minutes, suffix)
    elif scale:
        found = _scaled_readings(currency, whole, frac, scale)
    elif currency:
        found = _currency_readings(currency, whole, frac)
    elif suffix == "%":
        found = [r + tail for r in _decimal_readings(whole, frac, may_be_year=False) for tail in (("percent",), ("per", "cent"))]
    elif suffix in ("st", "nd", "rd", "th"):
        found = _ordinal_readings(whole)
    elif suffix in ("s", "'s"):
        found = [r[:-1] + (_plural(r[-1]),) for r in _integer_readings(whole, may_be_year=True)]
    else:
        found = _decimal_readings(whole, frac, may_be_year=not sign)
    return _unique(_signed(found, sign))[:_MAX_READINGS]


def _signed(readings: list[Reading], sign: str) -> list[Reading]:
    """"-5": minus five, then negative five, then (the "-" a dash) five."""
    if not sign:
        return readings
    return [said + r for said in _SIGNS[sign] for r in readings]


def _scaled_readings(currency: str, whole: str, frac: str, scale: str) -> list[Reading]:
    """"10K" ten thousand (or ten K), "$2M" two million dollars, "5bn" five billion; a lowercase "5m"
    may also be metres."""
    amounts = _decimal_readings(whole, frac)
    unit = (_UNITS[currency][1],) if currency else ()
    found = [r + (_SCALES[scale.lower()],) + unit for r in amounts]
    if scale == "k":
        found += [r + ("k",) + unit for r in amounts]
    if scale == "m" and not currency:
        found += [r + (metres,) for r in amounts for metres in ("meters", "metres")]
    return found


def _clock_readings(hour: str, minutes: str, meridiem: str) -> list[Reading]:
    """"10:30" ten thirty, "10:05" ten oh five, "10:00" ten o'clock (or ten), "9am" nine a m."""
    hours = [_cardinals(int(hour))[0]]
    if not minutes:
        said = [()]
    elif minutes == "00":
        said = [(), ("o'clock",)] if meridiem else [("o'clock",), ()]
    elif minutes.startswith("0"):
        said = [("oh", _DIGITS[int(minutes[1])]), ("zero", _DIGITS[int(minutes[1])])]
    else:
        said = [_cardinals(int(minutes))[0]]
    found = [h + m for h in hours for m in said]
    found += _past_and_to(int(hour), int(minutes or 0), bool(minutes))
    if meridiem:
        found = [r + half for r in found for half in _meridiem(meridiem)]
    return found


def _past_and_to(hour: int, minutes: int, has_minutes: bool) -> list[Reading]:
    """"10:15" also quarter past ten, "10:30" half past ten, "10:45" quarter to eleven, "10:10" ten past ten,
    "10:40" twenty to eleven; off the five-minute marks with "minutes" or without ("10:17" seventeen minutes
    past ten, "10:43" seventeen to eleven). 12-hour clock times only; after the plain readings."""
    if not has_minutes or hour > 12 or minutes == 0:
        return []
    ahead = minutes if minutes <= 30 else 60 - minutes
    link, said_hour = ("past", _cardinals(hour or 12)[0]) if minutes <= 30 else ("to", _cardinals(hour % 12 + 1)[0])
    if ahead % 5 == 0:
        return [_MARKS[ahead] + (link,) + said_hour]
    count = _cardinals(ahead)[0]
    return [count + ("minutes" if ahead > 1 else "minute", link) + said_hour, count + (link,) + said_hour]


_MARKS = {5: ("five",), 10: ("ten",), 15: ("quarter",), 20: ("twenty",), 25: ("twenty", "five"), 30: ("half",)}


def _words(text: str) -> Reading:
    """num2words' text as word keys: "two thousand and twenty-six" -> (two, thousand, and, twenty, six)."""
    return tuple(text.replace("-", " ").replace(",", " ").split())


def _cardinals(n: int) -> list[Reading]:
    full = _words(num2words(n))
    return _unique([tuple(w for w in full if w != "and"), full])


def _digit_by_digit(digits: str) -> Reading:
    return tuple(_DIGITS[int(d)] for d in digits)


def _integer_readings(written: str, may_be_year: bool = False) -> list[Reading]:
    """An integer; a plain four-digit one (no thousands comma) may be a year, and is then read as one first."""
    whole = written.replace(",", "") or "0"
    if len(whole) > _MAX_CARDINAL_DIGITS:
        return [_digit_by_digit(whole)]
    n = int(whole)
    found = []
    if may_be_year and len(written) == 4 and 1000 <= n <= 2999:
        year = _words(num2words(n, to="year"))
        found += [tuple(w for w in year if w != "and"), year]
        if 2001 <= n <= 2009:
            found.append(("twenty", "oh", _DIGITS[n % 10]))
    found += _cardinals(n)
    if len(whole) > 1 and whole.startswith("0"):
        found += [_digit_by_digit(whole), tuple("oh" if w == "zero" else w for w in _digit_by_digit(whole))]
    return _unique(found)


def _decimal_readings(whole: str, frac: str, may_be_year: bool = False) -> list[Reading]:
    if not frac:
        return _integer_readings(whole, may_be_year)
    tail = ("point",) + _digit_by_digit(frac)
    if not whole:  # ".5"
        return [tail, ("zero",) + tail]
    if not whole.strip("0,"):
        return [("zero",) + tail, tail]
    return [r + tail for r in _integer_readings(whole)]


def _ordinal_readings(whole: str) -> list[Reading]:
    full = _words(num2words(int(whole.replace(",", "")), to="ordinal"))
    return _unique([tuple(w for w in full if w != "and"), full])


def _currency_readings(currency: str, whole: str, frac: str) -> list[Reading]:
    one, many, hundredths = _UNITS[currency]
    n = int(whole.replace(",", "") or "0")
    if frac.strip("0") == "" and len(frac) == 2:  # "$5.00" is said "five dollars"
        frac = ""
    unit = (one,) if n == 1 and not frac else (many,)
    if len(frac) != 2:  # "$5", "$3.5": the amount, then the unit
        return [r + unit for r in _decimal_readings(whole, frac)]
    cents = _cardinals(int(frac))[0]
    if n == 0:
        return [cents + (hundredths,)]
    dollars = [r + ((one,) if n == 1 else (many,)) for r in _integer_readings(whole)]
    found = [d + cents + (hundredths,) for d in dollars] + [d + ("and",) + cents + (hundredths,) for d in dollars]
    return found + [r + cents for r in _integer_readings(whole)]  # "five ninety-nine"


def _plural(word: str) -> str:
    """Decades and such: ninety -> nineties, six -> sixes, hundred -> hundreds."""
    if word.endswith("y"):
        return word[:-1] + "ies"
    return word + ("es" if word.endswith("x") else "s")


def _unique(readings: list[Reading]) -> list[Reading]:
    return list(dict.fromkeys(readings))
