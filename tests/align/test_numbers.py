"""Numbers as spoken words: what a speaker (or the recogniser) may write for the same sounds."""

from modal_functions.align.numbers import spoken_readings


def said(*tokens: str) -> list[list[str]]:
    return [[" ".join(r) for r in readings] for readings in spoken_readings(list(tokens))]


def test_years_are_read_as_years_first_then_as_cardinals():
    assert said("2026")[0][:2] == ["twenty twenty six", "two thousand twenty six"]
    assert "two thousand and twenty six" in said("2026")[0]
    assert said("1906.")[0][0] == "nineteen oh six"
    assert "twenty oh five" in said("2005")[0]
    assert said("2,026") == [["two thousand twenty six", "two thousand and twenty six"]]  # a comma: not a year


def test_cardinals_decimals_percent_ordinals():
    assert said("42", "(7)", "1,000,000") == [["forty two"], ["seven"], ["one million"]]
    assert said("3.14")[0] == ["three point one four"]
    assert said("0.5")[0] == ["zero point five", "point five"]
    assert said("25%")[0][0] == "twenty five percent"
    assert said("1st", "22nd", "100th") == [["first"], ["twenty second"], ["one hundredth"]]


def test_currency():
    assert said("$5") == [["five dollars"]] and said("$1") == [["one dollar"]] and said("$1.00") == [["one dollar"]]
    assert said("$5.99")[0][0] == "five dollars ninety nine cents" and "five ninety nine" in said("$5.99")[0]
    assert said("£2", "€0.50") == [["two pounds"], ["fifty cents"]]
    assert said("$3.5", "million") == [["three point five"], ["million dollars"]]  # the unit follows the scale


def test_words_hyphens_decades_and_symbols():
    assert said("twenty-six", "twenty-first", "COVID-19") == [["twenty six"], ["twenty first"], ["covid nineteen"]]
    assert said("state-of-the-art") == [["stateoftheart"]]  # only numbers split at hyphens
    assert said("1990s")[0][0] == "nineteen nineties" and said("'80s") == [["eighties"]]
    assert said("🚀", "—") == [[""], [""]]
    assert said("１２") == [["twelve"]]  # full-width digits
