"""Coercion of raw string values (as read from a file) to a contract's logical types.

All functions are vectorised over a pandas Series so that a million-row upload
is converted in a few seconds. A value is *missing* when it is None, NaN or the
empty string; missing values are never a coercion failure (``required`` is a
separate rule). Accepted spellings:

* date: ISO 8601 calendar date ``YYYY-MM-DD`` only (``2024/03/31``, ``31.03.2024`` and
  ``2024-3-1`` are refused: day/month order cannot be guessed safely);
* integer: optional sign and digits, optionally followed by a zero fraction
  (``12``, ``-3``, ``12.0``); ``12.5``, ``1e3`` and ``1,000`` are refused;
* number: decimal with ``.`` as separator, optional exponent (``3.5``, ``-.5``, ``1e3``);
  no thousands separators or decimal commas; NaN and infinity are refused;
* timestamp: ISO 8601 date and time with an offset or ``Z`` (``2024-03-31T08:00:00Z``),
  converted to UTC (typed values are naive UTC datetimes);
* boolean: true/false, 1/0, yes/no (case-insensitive);
* string: any value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

_DATE = r"\d{4}-\d{2}-\d{2}"
_INTEGER = r"[+-]?\d+(?:\.0*)?"
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_INT64_LIMIT = 2.0**63

_FAILURE = {
    "date": "is not a valid date (expected YYYY-MM-DD)",
    "integer": "is not an integer",
    "number": "is not a number",
    "boolean": "is not a boolean (expected true/false, 1/0 or yes/no)",
    "timestamp": "is not a timestamp (expected ISO 8601 with a UTC offset)",
}
_TIMESTAMP = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})"


def as_text(values: pd.Series) -> pd.Series:
    """Object series of stripped strings, None where missing (None/NaN/empty)."""
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values = values.map(_to_text, na_action="ignore")
    values = values.astype(object)
    return values.where(values.notna() & (values != ""), None)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat()
    return str(value)


def _fullmatch(values: pd.Series, pattern: str) -> np.ndarray:
    """Boolean mask of the strings that match ``pattern`` entirely (vectorised in C
    through pyarrow when it is installed, else with Python's ``re``)."""
    try:
        matched = values.astype("string[pyarrow]").str.fullmatch(pattern)
        return matched.fillna(False).to_numpy(dtype=bool)
    except ImportError:  # pragma: no cover - pyarrow is optional
        return values.str.fullmatch(pattern, na=False).to_numpy(dtype=bool)


def _convert_distinct(logical_type: str, text: pd.Series) -> pd.Series:
    """Typed values (missing where invalid) of distinct, non-missing strings."""
    if logical_type == "date":
        well_formed = _fullmatch(text, _DATE)
        typed = pd.to_datetime(text.where(well_formed), format="%Y-%m-%d", errors="coerce")
        return typed.astype("datetime64[ns]")
    if logical_type in ("integer", "number"):
        pattern = _INTEGER if logical_type == "integer" else _NUMBER
        well_formed = _fullmatch(text, pattern)
        typed = pd.to_numeric(text.where(well_formed), errors="coerce").astype("float64")
        limit = _INT64_LIMIT if logical_type == "integer" else np.inf
        return typed.where(np.isfinite(typed) & (typed.abs() < limit))
    if logical_type == "timestamp":
        well_formed = _fullmatch(text, _TIMESTAMP)
        typed = pd.to_datetime(text.where(well_formed), format="ISO8601", utc=True, errors="coerce")
        return typed.dt.tz_convert(None).astype("datetime64[ns]")
    if logical_type == "boolean":
        typed = text.str.lower().map(_BOOLEANS).astype(object)
        return typed.where(typed.notna(), None)
    raise ValueError(f"unknown logical type {logical_type!r}")


def coerce_series(logical_type: str, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Convert an object series of strings (None = missing) to ``logical_type``.

    Returns ``(typed, invalid)``: ``typed`` has the validation dtype (date ->
    datetime64[ns], integer/number -> float64, boolean -> object of True/False/None,
    string -> object) with a missing value wherever the input was missing or
    invalid; ``invalid`` is a boolean mask of the present values that failed.

    Each distinct string is converted once (uploads repeat dates, quantities and
    flags on many rows), then the results are spread back over the rows.
    """
    if logical_type == "string":
        return values, pd.Series(False, index=values.index)
    codes, distinct = pd.factorize(values.astype(object), use_na_sentinel=True)
    converted = _convert_distinct(logical_type, pd.Series(distinct, dtype=object))
    present = codes >= 0
    if logical_type == "boolean":
        typed_values = np.full(len(values), None, dtype=object)
    elif logical_type in ("date", "timestamp"):
        typed_values = np.full(len(values), np.datetime64("NaT", "ns"))
    else:
        typed_values = np.full(len(values), np.nan)
    typed_values[present] = converted.to_numpy()[codes[present]]
    typed = pd.Series(typed_values, index=values.index)
    invalid = pd.Series(present, index=values.index) & typed.isna()
    return typed, invalid


def failure_message(column: str, logical_type: str, value: str) -> str:
    """Message for a value that failed coercion, e.g. ``units: 'abc' is not an integer``."""
    return f"{column}: {value!r} {_FAILURE[logical_type]}"


def coerce_scalar(logical_type: str, value: str) -> Any:
    """Coerce a single string; raise ValueError with a readable message if it fails."""
    typed, invalid = coerce_series(logical_type, pd.Series([value], dtype=object))
    if bool(invalid.iloc[0]):
        raise ValueError(f"{value!r} {_FAILURE[logical_type]}")
    result = typed.iloc[0]
    if logical_type == "date":
        return result.date()
    if logical_type == "integer":
        return int(result)
    return result
