import datetime as dt

import pandas as pd
import pytest

from forecast_pipeline.contracts.coercion import as_text, coerce_scalar, coerce_series


def _coerce(logical_type, values):
    typed, invalid = coerce_series(logical_type, pd.Series(values, dtype=object))
    return typed.tolist(), invalid.tolist()


def test_integer_accepts_whole_numbers_only():
    typed, invalid = _coerce(
        "integer", ["12", "-3", "+7", "12.0", "12.5", "abc", "1e3", "1,000", None]
    )
    assert invalid == [False, False, False, False, True, True, True, True, False]
    assert typed[:4] == [12.0, -3.0, 7.0, 12.0]
    assert pd.isna(typed[8])


def test_integer_too_large_for_int64_is_invalid():
    _, invalid = _coerce("integer", ["99999999999999999999", "5000000"])
    assert invalid == [True, False]


def test_number():
    typed, invalid = _coerce("number", ["3.5", "-.5", "1e3", "3,5", "nan", "inf", "1 000", "7"])
    assert invalid == [False, False, False, True, True, True, True, False]
    assert typed[:3] == [3.5, -0.5, 1000.0]
    assert typed[7] == 7.0


def test_boolean_spellings():
    typed, invalid = _coerce("boolean", ["true", "FALSE", "1", "0", "Yes", "no", "maybe", None])
    assert typed[:6] == [True, False, True, False, True, False]
    assert invalid == [False] * 6 + [True, False]


def test_dates_are_strict_iso():
    typed, invalid = _coerce(
        "date", ["2024-03-31", "2024/03/31", "31.03.2024", "2024-3-1", "2024-02-30", None]
    )
    assert invalid == [False, True, True, True, True, False]
    assert typed[0] == pd.Timestamp("2024-03-31")


def test_repeated_values_convert_consistently():
    values = ["5", "x", "5", None, "x", "6"] * 1000
    typed, invalid = coerce_series("integer", pd.Series(values, dtype=object))
    assert invalid.sum() == 2000
    assert typed.iloc[:6].tolist()[0] == 5.0
    assert typed.iloc[5] == 6.0


def test_as_text_turns_empty_and_non_strings_into_text():
    text = as_text(pd.Series([1, 2.0, None, True], dtype=object))
    assert text.tolist() == ["1", "2", None, "true"]
    assert as_text(pd.Series(["a", ""], dtype=object)).tolist() == ["a", None]


def test_coerce_scalar():
    assert coerce_scalar("date", "2024-01-02") == dt.date(2024, 1, 2)
    assert coerce_scalar("integer", "12.0") == 12
    with pytest.raises(ValueError, match="is not an integer"):
        coerce_scalar("integer", "12.5")
