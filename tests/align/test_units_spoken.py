"""Units, fractions, ranges, symbols, Greek letters and abbreviations as spoken words: what an explainer
script writes ("10km", "20°C", "½", "10–20", "π", "e.g.") against what the voice says and the recogniser writes."""

from modal_functions.align.numbers import spoken_readings, written_otherwise
from modal_functions.align.pronounce import dict_keys


def said(*tokens: str) -> list[list[str]]:
    return [[" ".join(r) for r in readings] for readings in spoken_readings(list(tokens))]


def test_amounts_with_units_attached():
    assert said("10km")[0][:2] == ["ten kilometres", "ten kilometers"] and "ten km" in said("10km")[0]
    assert said("1km")[0][0] == "one kilometre"  # singular after one
    assert said("1.5kg")[0][0] == "one point five kilograms"
    assert said("100mph")[0][0] == "one hundred miles per hour"  # the noun before "per" takes the plural
    assert said("60fps")[0][0] == "sixty frames per second" and said("5GB")[0][0] == "five gigabytes"
    assert said("20°C")[0][0] == "twenty degrees celsius" and said("-5°F")[0][0] == "minus five degrees fahrenheit"
    assert said("30°")[0][0] == "thirty degrees" and said("20℃")[0][0] == "twenty degrees celsius"
    assert said("3x")[0][:2] == ["three times", "three x"] and said("3×")[0][0] == "three times"
    assert said("40m²")[0][0] == "forty square metres" and "forty metres squared" in said("40m²")[0]
    assert said("12in")[0][0] == "twelve inches" and said("6ft")[0][0] == "six feet"


def test_a_unit_written_apart_is_a_unit_only_after_an_amount():
    assert said("50", "km/h") == [["fifty"], ["kilometres per hour", "kilometers per hour", "kilometre per hour",
                                              "kilometer per hour", "kmh"]]
    assert said("ten", "km")[1][0] == "kilometres" and said("one", "km")[1][0] == "kilometre"
    assert said("40", "m²")[1][0] == "square metres" and said("5", "min")[1][0] == "minutes"
    assert said("5", "in", "the") == [["five"], ["in"], ["the"]]  # "5 in the morning": a word
    assert said("the", "km") == [["the"], ["km"]] and said("m")[0] == ["m"]  # no amount, no unit


def test_fractions():
    assert said("½")[0][:2] == ["a half", "one half"] and said("1/2")[0][0] == "a half"
    assert said("1½")[0][0] == "one and a half" and said("2¼")[0][0] == "two and a quarter"
    assert said("3/4")[0][:2] == ["three quarters", "three fourths"] and said("2/3")[0][0] == "two thirds"
    assert said("1/3")[0][0] == "a third" and said("8/10")[0][0] == "eight out of ten"
    assert said("24/7")[0][0] == "twenty four seven" and said("9/11")[0][0] == "nine eleven"  # no fraction anyone says


def test_ranges_and_dashes():
    assert said("10–20")[0][:2] == ["ten to twenty", "ten twenty"] and said("10-20")[0][0] == "ten to twenty"
    assert said("1990–2000")[0][0] == "nineteen ninety to two thousand"
    assert said("10-5") == [["ten five"]]  # descending: a score, not a range
    assert said("fast—really") == [["fast really"]]  # an em dash joins two words, it is none


def test_symbols_prefixes_letters_and_abbreviations():
    assert said("~5")[0][0] == "about five" and said("#1")[0][0] == "number one" and said(">5")[0][0] == "more than five"
    assert said("&") == [["and", ""]] and said("bag &") == [["bag and", "bag"]]  # skipped by the voice: "bag" alone
    assert said("π")[0][0] == "pi" and said("Δ")[0][0] == "delta" and said("λ")[0][0] == "lambda"
    assert said("x²")[0][0] == "x squared" and said("r³")[0][0] == "r cubed"
    assert said("e.g.")[0][0] == "for example" and said("vs.")[0][0] == "versus" and said("Dr.")[0][0] == "doctor"
    assert said("5s")[0][0] == "five seconds" and said("30s")[0][:2] == ["thirties", "thirty seconds"]
    assert said("'80s") == [["eighties"]] and said("1990s")[0][0] == "nineteen nineties"  # decades stay decades
    assert said("CO₂") == [["co2"]] and said("café") == [["cafe"]]  # as before


def test_the_forced_aligner_gets_the_spoken_words():
    assert dict_keys(["A", "5kg", "bag", "at", "100mph", "the", "#1", "π", "10–20"]) == [
        "a", "five_kilograms", "bag", "at", "one_hundred_miles_per_hour", "the", "number_one", "pi", "ten_to_twenty"]
    assert dict_keys(["50", "km/h"]) == ["50", "kilometres_per_hour"]
    assert written_otherwise("10km") and written_otherwise("½") and not written_otherwise("cafe")
    assert not written_otherwise("2026") and not written_otherwise("🚀")  # numbers keep their digits for espeak-ng
