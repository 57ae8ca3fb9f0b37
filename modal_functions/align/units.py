"""Units, symbols, Greek letters and abbreviations as they are spoken.

An explainer script writes "10km", "20°C", "50 km/h", "40 m²", "3x", "π", "&" or "e.g.";
the voice says "ten kilometres", "twenty degrees Celsius", "fifty kilometres per hour",
"forty square metres", "three times", "pi", "and", "for example", and the recogniser
writes either form. These tables give each written form its spoken readings (tuples of
word keys, most likely first), so both sides of the script alignment meet as spoken
words; `numbers` puts them together with the amounts.

A unit is only read as a unit after an amount ("10km", "10 km", "ten km"): "in", "m" or
"g" alone are words and letters.
"""

from __future__ import annotations

import unicodedata

from .wordkeys import word_key

Reading = tuple[str, ...]

# Written unit -> its spoken singular; the plural adds "s" to the word before "per", or to
# the last word, unless given after a "|".
_UNIT_TABLE = {
    # length, area and volume (areas and volumes also from "²"/"³": see `unit_readings`)
    "mm": "millimetre", "cm": "centimetre", "m": "metre", "km": "kilometre", "nm": "nanometre",
    "μm": "micrometre", "in": "inch|inches", "ft": "foot|feet", "yd": "yard", "mi": "mile",
    "ml": "millilitre", "mL": "millilitre", "l": "litre", "L": "litre", "gal": "gallon",
    # mass
    "mg": "milligram", "g": "gram", "kg": "kilogram", "lb": "pound", "lbs": "pound", "oz": "ounce",
    # time
    "ms": "millisecond", "s": "second", "sec": "second", "secs": "second", "min": "minute", "mins": "minute",
    "h": "hour", "hr": "hour", "hrs": "hour", "yr": "year", "yrs": "year",
    # rates
    "mph": "mile per hour", "kph": "kilometre per hour", "km/h": "kilometre per hour",
    "kmh": "kilometre per hour", "m/s": "metre per second", "fps": "frame per second",
    "rpm": "revolution per minute", "bpm": "beat per minute", "ppm": "part per million",
    # temperature
    "°C": "degree celsius|degrees celsius", "°F": "degree fahrenheit|degrees fahrenheit", "°": "degree",
    # data
    "KB": "kilobyte", "kB": "kilobyte", "MB": "megabyte", "GB": "gigabyte", "TB": "terabyte", "PB": "petabyte",
    "kbps": "kilobit per second", "Mbps": "megabit per second", "Gbps": "gigabit per second",
    # energy, power, frequency, sound, screens
    "W": "watt", "kW": "kilowatt", "MW": "megawatt", "GW": "gigawatt", "Wh": "watt hour", "kWh": "kilowatt hour",
    "MWh": "megawatt hour", "GWh": "gigawatt hour", "V": "volt", "mAh": "milliamp hour", "Hz": "hertz|hertz",
    "kHz": "kilohertz|kilohertz", "MHz": "megahertz|megahertz", "GHz": "gigahertz|gigahertz",
    "cal": "calorie", "kcal": "kilocalorie", "kJ": "kilojoule", "dB": "decibel", "px": "pixel",
}
_CASELESS = {"km", "kg", "mm", "cm", "mph", "kph", "kmh", "fps", "rpm", "bpm", "kwh", "mwh", "gwh", "mah", "hz", "khz",
             "mhz", "ghz", "kbps", "mbps", "gbps", "hrs", "mins", "secs", "lbs"}  # "KM", "Mph": still the unit
_ALONE_IS_A_WORD = {"in", "m", "g", "l", "L", "h", "s", "W", "V", "cal"}  # read as units only when attached
_TIMES = {"x", "X", "×"}  # "3x", "3×": three times
_SPELLINGS = (("metre", "meter"), ("litre", "liter"))  # British first, then American: both get written
_POWERS = {"²": ("square", "squared"), "³": ("cubic", "cubed")}
_BY_LOWER = {k.lower(): v for k, v in _UNIT_TABLE.items() if k.lower() in _CASELESS}

SYMBOLS: dict[str, list[Reading]] = {
    # Said first; () last: when the voice skipped it, a neighbour's reading without it is chosen
    "%": [("percent",), ("per", "cent")],
    "&": [("and",), ()],
    "+": [("plus",), ("and",), ()],
    "=": [("equals",), ("is",), ()],
    "×": [("times",), ("by",), ()],
    "÷": [("divided", "by"), ()],
    "~": [("about",), ("around",), ("approximately",), ()],
    "≈": [("approximately",), ("about",), ()],
    "→": [("to",), ()],
    "<": [("less", "than"), ()],
    ">": [("more", "than"), ("greater", "than"), ()],
    "≤": [("at", "most"), ("less", "than", "or", "equal", "to"), ()],
    "≥": [("at", "least"), ("greater", "than", "or", "equal", "to"), ()],
}
PREFIXES: dict[str, list[Reading]] = {  # written onto the amount: "~5", "≈5", "#1", "<5", ">5"
    "~": SYMBOLS["~"][:-1], "≈": SYMBOLS["≈"][:-1], "<": SYMBOLS["<"][:-1], ">": SYMBOLS[">"][:-1],
    "≤": SYMBOLS["≤"][:-1], "≥": SYMBOLS["≥"][:-1], "#": [("number",), ("hashtag",), ()],
}
_ABBREVIATIONS: dict[str, list[Reading]] = {  # by word key ("e.g." -> "eg"); the letters or the word itself stay possible
    "eg": [("for", "example"), ("e", "g")],
    "ie": [("that", "is"), ("i", "e")],
    "etc": [("et", "cetera"), ("etcetera",)],
    "vs": [("versus",), ("vs",)],
    "approx": [("approximately",), ("approx",)],
    "dr": [("doctor",), ("dr",)],
    "mr": [("mister",), ("mr",)],
    "mrs": [("missus",), ("mrs",)],
    "prof": [("professor",), ("prof",)],
}


def _plural(singular: str) -> str:
    words = singular.split()
    at = words.index("per") - 1 if "per" in words else len(words) - 1
    words[at] = words[at] + ("es" if words[at].endswith(("ch", "sh", "s", "x")) else "s")
    return " ".join(words)


def _spoken(unit: str) -> tuple[str, str] | None:
    """(singular, plural) of a written unit, or None."""
    entry = _UNIT_TABLE.get(unit) or _BY_LOWER.get(unit.lower())
    if entry is None:
        return None
    singular, _, plural = entry.partition("|")
    return singular, plural or _plural(singular)


def _spellings(text: str) -> list[Reading]:
    found = [tuple(text.split())]
    for british, american in _SPELLINGS:
        if british in text:
            found.append(tuple(text.replace(british, american).split()))
    return found


def unit_readings(unit: str, one: bool, alone: bool = False) -> list[Reading] | None:
    """How a unit written after an amount is said ("km" -> kilometres, kilometers; "m²" -> square metres,
    metres squared; "3x" -> times), singular first after "one"; None when `unit` is not a unit
    (or, `alone`, when it is a word of its own too: "5 in the morning")."""
    if unit in _TIMES:
        return [("times",), ("x",)]
    base, power = _split_power(unit)
    if alone and not power and base in _ALONE_IS_A_WORD:
        return None
    spoken = _spoken(base)
    if spoken is None:
        return None
    singular, plural = spoken
    forms = [singular, plural] if one else [plural, singular]
    if power:
        before, after = power
        forms = [f"{before} {f}" for f in forms] + [f"{f} {after}" for f in forms]
    found = [r for f in forms for r in _spellings(f)]
    key = word_key(base)
    return list(dict.fromkeys(found + ([(key,)] if key else [])))


def split_amount(core: str) -> tuple[str, str] | None:
    """"10km" -> ("10", "km"), "1.5kg" -> ("1.5", "kg"), "3x" -> ("3", "x"), "40m²" -> ("40", "m²"): an amount
    written with a known unit straight after it, else None."""
    i = 0
    while i < len(core) and (core[i].isdigit() or core[i] in ",." or (i == 0 and core[i] in "-+\u2212$£€")):
        i += 1
    amount = core[:i].rstrip(",.")
    unit = core[len(amount):]
    if not any(ch.isdigit() for ch in amount) or not unit:
        return None
    return (amount, unit) if unit_readings(unit, one=False) is not None else None


def letter_name(token: str) -> list[Reading] | None:
    """A Greek letter on its own ("π", "Δ", "λ"): its name, then the letter as written."""
    if len(token) != 1 or not unicodedata.name(token, "").startswith("GREEK"):
        return None
    name = unicodedata.name(token).split()[-1].lower().replace("lamda", "lambda")
    return [(name,), (token.casefold(),)]


def abbreviation(key: str) -> list[Reading] | None:
    """"e.g." (key "eg") -> for example; "vs" -> versus: by the word key, else None."""
    return _ABBREVIATIONS.get(key)


def power_of(token: str) -> tuple[str, Reading] | None:
    """"x²" -> ("x", ("squared",)); "r³" -> ("r", ("cubed",)): a base with a power sign after it, else None."""
    base, power = _split_power(token)
    return (base, (power[1],)) if power else None


def _split_power(token: str) -> tuple[str, tuple[str, str] | None]:
    """"m²" -> ("m", ("square", "squared")); a token without a power sign after a base -> (token, None)."""
    power = _POWERS.get(token[-1:]) if len(token) > 1 else None
    return (token[:-1], power) if power else (token, None)
