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


def test_signs():
    assert said("-5") == [["minus five", "negative five", "five"]]  # last: the "-" may be a dash
    assert said("−5")[0][0] == "minus five" and said("+3")[0][0] == "plus three"  # U+2212 minus sign
    assert said("-3.5%")[0][0] == "minus three point five percent" and said("-$5")[0][0] == "minus five dollars"
    assert said("-2026")[0][0] == "minus two thousand twenty six"  # never a year
    assert said("10-5", "COVID-19") == [["ten five"], ["covid nineteen"]]  # a hyphen inside is no sign


def test_clock_times():
    assert said("10:30", "10:05", "(9:45),") == [["ten thirty", "half past ten"], ["ten oh five", "ten zero five", "five past ten"],
                                                 ["nine forty five", "quarter to ten"]]
    assert said("10:00") == [["ten o'clock", "ten"]]
    assert said("3:75", "25:00") == [["375"], ["2500"]]  # not times of day: as before
    assert said("9am", "9:30PM", "10:00a.m.") == [["nine a m", "nine am"], ["nine thirty p m", "nine thirty pm",
                                                                          "half past nine p m", "half past nine pm"],
                                                 ["ten a m", "ten am", "ten o'clock a m", "ten o'clock am"]]


def test_british_dotted_clock_times():
    assert said("10.30am", "9.05p.m.") == [["ten thirty a m", "ten thirty am", "half past ten a m", "half past ten am"],
                                           ["nine oh five p m", "nine oh five pm", "nine zero five p m", "nine zero five pm",
                                            "five past nine p m", "five past nine pm"]]
    assert said("10.30", "pm")[0] == ["ten thirty", "half past ten"]
    assert said("at", "10.30")[1] == ["ten thirty", "half past ten", "ten point three zero"]  # the time first after "at"
    assert said("10.30") == [["ten point three zero"]] and said("at", "3.5")[1] == ["three point five"]  # else a decimal
    assert said("at", "10.75")[1] == ["ten point seven five"] and said("10.75", "pm")[0] == ["ten point seven five"]


def test_clock_times_past_and_to_the_hour():
    assert [r[-1] for r in said("10:15", "12:45", "11:45pm")] == ["quarter past ten", "quarter to one", "quarter to twelve pm"]
    assert [r[-1] for r in said("10:10", "10:25", "10:40", "10:55")] == [
        "ten past ten", "twenty five past ten", "twenty to eleven", "five to eleven"]
    assert said("14:15", "14:17", "10:00") == [["fourteen fifteen"], ["fourteen seventeen"], ["ten o'clock", "ten"]]  # 24-hour
    assert said("10:17", "10:43", "10:59") == [["ten seventeen", "seventeen minutes past ten", "seventeen past ten"],
                                               ["ten forty three", "seventeen minutes to eleven", "seventeen to eleven"],
                                               ["ten fifty nine", "one minute to eleven", "one to eleven"]]  # off the marks


def test_a_m_and_p_m_written_apart():
    assert said("9", "a.m.", "P.M.,") == [["nine"], ["a m", "am"], ["p m", "pm"]]
    assert said("nine", "AM") == [["nine"], ["a m", "am"]] and said("9", "pm.")[1] == ["p m", "pm"]
    assert said("I", "am") == [["i"], ["am"]] and said("we", "am")[1] == ["am"]  # "am" after a word is a word


def test_abbreviated_magnitudes():
    assert said("10K") == [["ten thousand", "ten k"]] and said("1.5k")[0][0] == "one point five thousand"
    assert said("$2M", "2M", "5B", "5bn", "4T") == [["two million dollars"], ["two million"], ["five billion"],
                                                    ["five billion"], ["four trillion"]]
    assert said("2m") == [["two million", "two meters", "two metres"]]  # lowercase: maybe a length
    assert said("£3.5bn") == [["three point five billion pounds"]] and said("-$2M")[0][0] == "minus two million dollars"
    assert said("4th", "1st", "5Ms") == [["fourth"], ["first"], ["5ms"]]  # an ordinal is no scale; "5Ms" is nothing said
    assert said("$3.5", "million") == [["three point five"], ["million dollars"]]  # as before
